"""Every exercise check of every chapter, run against answers: it must pass the reference
solution and the valid variants, and fail each known-wrong answer with its hint.

No kernel: a chapter's setup cell (imports) and parameters cell run once in a plain namespace;
then, per case, the answer is defined and the instructor's check cell (taken from the notebook
by its cell id) runs there, with gan_helpers.coursework recording what each ``gh.exercise``
block found. An answer that only a hidden case catches is also run against the student
edition's check, where it must pass: that is what the hidden case is for.

When a student finds an answer that passes wrongly, add it to WRONG below (book/instructors.md).
"""

from __future__ import annotations

import textwrap

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

import book
import coursework
from gan_helpers import coursework as checks

# chapter -> exercise -> (solution cell id, check cell id)
EXERCISES = {
    "01_vanilla_gan": {
        "1 · G's losses": ("b86b5e7b", "eaa3d84d"),
        "2 · D's loss": ("703a36a0", "881ca416"),
        "3 · EMA step": ("2fc78c2a", "dffa9f81"),
        "4 · slerp": ("fb0badf0", "d95a308d"),
        "5 · the best D": ("e5be5t02", "e5be5t03"),
        "6 · Fréchet distance": ("e6fd0002", "e6fd0003"),
    },
    "02_conditional_gan": {
        "1 · label embedding": ("e2d47f49", "b9ecaca5"),
        "2 · conditioned accuracy": ("7dbefe75", "23411384"),
        "3 · label channel": ("4f738f4d", "56a23275"),
    },
}

G_LOSS = '''
def generator_loss(fake_logits, kind):
    if kind == "non-saturating":
        return {ns}
    return {sat}
'''
D_LOSS = '''
def discriminator_loss(real_logits, fake_logits):
    return {body}
'''
EMA = '''
@torch.no_grad()
def ema_step(ema_tensors, tensors, decay):
{body}
'''
SLERP = '''
def slerp(z0, z1, t):
{body}
'''
BEST_D = '''
def optimal_d(p_data, p_g):
    return {d}


def game_value(d, p_data, p_g):
    return {value}


def jsd(p, q):
    m = (p + q) / 2
    return {jsd}
'''
RIGHT_D = dict(d="p_data / (p_data + p_g)", value="(p_data * torch.log(d)).sum() + (p_g * torch.log(1 - d)).sum()",
               jsd="0.5 * (p * torch.log(p / m)).sum() + 0.5 * (q * torch.log(q / m)).sum()")
FD = '''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    {body}
'''
LABEL = '''
class LabelConcat(nn.Module):
    def __init__(self, num_classes, embed_dim):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
{extra}
    def forward(self, z, y):
        return {body}
'''
ACCURACY = '''
def conditioned_accuracy(predicted, requested, num_classes=10):
{body}
'''
CHANNEL = '''
def with_label_channel(x, y, embedding):
    return {body}
'''


def g_loss(ns: str, sat: str) -> str:
    return G_LOSS.format(ns=ns, sat=sat)


def block(body: str) -> str:
    return textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")


NS, SAT = "F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))", \
    "-F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))"
SLERP_RIGHT = """
    omega = torch.arccos((z0 @ z1 / (z0.norm() * z1.norm())).clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
"""
ACC_RIGHT = """
    hits = (predicted == requested).float()
    return hits.mean().item(), torch.stack([hits[requested == k].mean() for k in range(num_classes)])
"""

# chapter -> exercise -> {label: source}; each must fail ("NOT YET RIGHT") and show its hint
WRONG = {
    "01_vanilla_gan": {
        "1 · G's losses": {
            "kinds swapped": g_loss(SAT, NS),
            "saturating without the minus sign": g_loss(NS, SAT.lstrip("-")),
            "a sum, not a mean": g_loss("-F.logsigmoid(fake_logits).sum()", "F.logsigmoid(-fake_logits).sum()"),
            "calls the course's reference": g_loss("gh.reference.generator_loss(fake_logits, kind)",
                                                   "gh.reference.generator_loss(fake_logits, kind)"),
        },
        "2 · D's loss": {
            "binary cross-entropy, which the exercise rules out": D_LOSS.format(
                body="F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + "
                     "F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))"),
            "nn.BCEWithLogitsLoss": D_LOSS.format(
                body="nn.BCEWithLogitsLoss()(torch.cat([real_logits, fake_logits]), "
                     "torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])) * 2"),
            "one mean over both batches": D_LOSS.format(
                body="-torch.cat([F.logsigmoid(real_logits), F.logsigmoid(-fake_logits)]).mean() * 2"),
            "log D(G(z)) for the fakes": D_LOSS.format(body="-F.logsigmoid(real_logits).mean() - F.logsigmoid(fake_logits).mean()"),
            "not negated": D_LOSS.format(body="F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()"),
        },
        "3 · EMA step": {
            "rebinds the list's entries": EMA.format(body=block("""
                for i, (ema, value) in enumerate(zip(ema_tensors, tensors)):
                    ema_tensors[i] = decay * ema + (1 - decay) * value
            """)),
            "rebinds the loop variable": EMA.format(body=block("""
                for ema, value in zip(ema_tensors, tensors):
                    ema = decay * ema + (1 - decay) * value
            """)),
            "decay and 1 - decay swapped": EMA.format(body=block("""
                for ema, value in zip(ema_tensors, tensors):
                    ema.mul_(1 - decay).add_(value, alpha=decay)
            """)),
        },
        "4 · slerp": {
            "normalised linear interpolation": SLERP.format(body=block("""
                v = (1 - t) * z0 + t * z1
                return v / v.norm() * ((1 - t) * z0.norm() + t * z1.norm())
            """)),
            "normalised linear interpolation, to z0's length": SLERP.format(body=block("""
                v = torch.lerp(z0, z1, t)
                return v * z0.norm() / v.norm()
            """)),
            "linear interpolation": SLERP.format(body="    return (1 - t) * z0 + t * z1"),
            "weights swapped": SLERP.format(body=block("""
                omega = torch.arccos((z0 @ z1 / (z0.norm() * z1.norm())).clamp(-1, 1))
                return (torch.sin(t * omega) * z0 + torch.sin((1 - t) * omega) * z1) / torch.sin(omega)
            """)),
            "calls gh.slerp": SLERP.format(body="    return gh.slerp(z0, z1, t)"),
            "calls gh.slerp under another name": "spherical = gh.slerp\n" + SLERP.format(body="    return spherical(z0, z1, t)"),
            "is gh.slerp": "slerp = gh.slerp\n",
            "wraps gh.slerp in a partial": "import functools\nslerp = functools.partial(gh.slerp)\n",
            "calls gh.interpolate": SLERP.format(body="    return gh.interpolate(z0, z1, 3, 'spherical')[1] if t == 0.5 else "
                                                      "gh.latent.slerp(z0, z1, t)"),
        },
        "5 · the best D": {
            "D* for the fakes": BEST_D.format(**RIGHT_D | dict(d="p_g / (p_data + p_g)")),
            "D* as a likelihood ratio": BEST_D.format(**RIGHT_D | dict(d="p_data / p_g")),
            "V as a mean, not an expectation": BEST_D.format(
                **RIGHT_D | dict(value="(p_data * torch.log(d)).mean() + (p_g * torch.log(1 - d)).mean()")),
            "JSD as KL(p ‖ q)": BEST_D.format(**RIGHT_D | dict(jsd="(p * torch.log(p / q)).sum()")),
            "JSD in bits": BEST_D.format(**RIGHT_D | dict(jsd="(0.5 * (p * torch.log2(p / m)).sum() + 0.5 * (q * torch.log2(q / m)).sum())")),
        },
        "6 · Fréchet distance": {
            "square roots of each matrix": FD.format(body="return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2 * np.sqrt(sigma1) @ np.sqrt(sigma2)))"),
            "square root of each entry of the product": FD.format(
                body="return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2) - 2 * np.trace(np.sqrt(np.abs(sigma1 @ sigma2))))"),
            "no factor 2": FD.format(body="return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - "
                                          "np.sqrt(np.clip(np.linalg.eigvals(sigma1 @ sigma2).real, 0, None)).sum())"),
            "the means' distance not squared": FD.format(body="return float(np.linalg.norm(mu1 - mu2) + np.trace(sigma1) + np.trace(sigma2) - "
                                                              "2 * np.sqrt(np.clip(np.linalg.eigvals(sigma1 @ sigma2).real, 0, None)).sum())"),
            "calls gh.frechet_distance": FD.format(body="return gh.frechet_distance(mu1, sigma1, mu2, sigma2)"),
        },
    },
    "02_conditional_gan": {
        "1 · label embedding": {
            "ignores the label": LABEL.format(extra="", body="torch.cat([z, torch.zeros(len(z), self.embed.embedding_dim)], dim=1)"),
            "one-hot, no embedding": LABEL.format(extra="", body="torch.cat([z, F.one_hot(y, self.embed.num_embeddings).float()], dim=1)"),
            "the embedding before z": LABEL.format(extra="", body="torch.cat([self.embed(y), z], dim=1)"),
            "calls the course's reference": LABEL.format(extra="        self.inner = gh.reference.LabelConcat(num_classes, embed_dim)",
                                                         body="self.inner(z, y)"),
            "subclasses the course's reference": "class LabelConcat(gh.reference.LabelConcat):\n    pass\n",
        },
        "2 · conditioned accuracy": {
            "hard-coded for the visible case": ACCURACY.format(body="    return 4 / 6, torch.tensor([0.5, 0.5, 1.0])"),
            "calls gh.conditioned_accuracy": ACCURACY.format(body=block("""
                overall, per_class = gh.conditioned_accuracy(predicted.numpy(), requested.numpy(), num_classes)
                return overall, torch.tensor(per_class)
            """)),
            "overall as the mean of the classes": ACCURACY.format(body=block("""
                hits = (predicted == requested).float()
                per_class = torch.stack([hits[requested == k].mean() for k in range(num_classes)])
                return per_class.mean().item(), per_class
            """)),
            "per class by the label read, not requested": ACCURACY.format(body=block("""
                hits = (predicted == requested).float()
                return hits.mean().item(), torch.stack([hits[predicted == k].mean() for k in range(num_classes)])
            """)),
        },
        "3 · label channel": {
            "label channel first": CHANNEL.format(body="torch.cat([embedding(y).view(-1, 1, 28, 28), x], dim=1)"),
            "a detached table": CHANNEL.format(body="torch.cat([x, embedding.weight[y].detach().view(-1, 1, 28, 28)], dim=1)"),
            "the map transposed": CHANNEL.format(body="torch.cat([x, embedding(y).view(-1, 1, 28, 28).transpose(2, 3)], dim=1)"),
            "stacked along the batch": CHANNEL.format(body="torch.cat([x, embedding(y).view(-1, 1, 28, 28)], dim=0)"),
        },
    },
}

# answers that pass the student edition's visible cases and only a hidden case catches
HIDDEN_ONLY = {
    "01_vanilla_gan": {
        "1 · G's losses": {"log of a rounded σ(a)": g_loss("-torch.log(torch.sigmoid(fake_logits)).mean()",
                                                            "torch.log(1 - torch.sigmoid(fake_logits)).mean()")},
        "2 · D's loss": {"log of a rounded σ(a)": D_LOSS.format(
            body="-torch.log(torch.sigmoid(real_logits)).mean() - torch.log(1 - torch.sigmoid(fake_logits)).mean()")},
    },
}

# chapter -> exercise -> {label: source}; each must pass
VALID = {
    "01_vanilla_gan": {
        "1 · G's losses": {
            "F.logsigmoid": g_loss("-F.logsigmoid(fake_logits).mean()", "F.logsigmoid(-fake_logits).mean()"),
            "softplus": g_loss("F.softplus(-fake_logits).mean()", "-F.softplus(fake_logits).mean()"),
        },
        "2 · D's loss": {
            "softplus": D_LOSS.format(body="F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()"),
            "log σ(-a) by hand": D_LOSS.format(body="-torch.log(torch.sigmoid(real_logits)).mean() - torch.log(torch.sigmoid(-fake_logits)).mean()"),
            "negated sum of means": D_LOSS.format(body="-(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())"),
        },
        "3 · EMA step": {
            "lerp_": EMA.format(body=block("""
                for ema, value in zip(ema_tensors, tensors):
                    ema.lerp_(value, 1 - decay)
            """)),
            "copy_": EMA.format(body=block("""
                for ema, value in zip(ema_tensors, tensors):
                    ema.copy_(decay * ema + (1 - decay) * value)
            """)),
            "foreach": EMA.format(body=block("""
                torch._foreach_mul_(ema_tensors, decay)
                torch._foreach_add_(ema_tensors, tensors, alpha=1 - decay)
            """)),
        },
        "4 · slerp": {
            "float64 with cosine_similarity": SLERP.format(body=block("""
                cos = F.cosine_similarity(z0.double(), z1.double(), dim=0)
                omega = torch.arccos(cos.clamp(-1, 1))
                blend = (torch.sin((1 - t) * omega) * z0.double() + torch.sin(t * omega) * z1.double()) / torch.sin(omega)
                return blend.float()
            """)),
            "numpy": SLERP.format(body=block("""
                a, b = z0.numpy(), z1.numpy()
                omega = np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))
                return torch.from_numpy((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega))
            """)),
        },
        "5 · the best D": {
            "kl_div and log1p": BEST_D.format(**RIGHT_D | dict(
                value="(p_data * d.log()).sum() + (p_g * torch.log1p(-d)).sum()",
                jsd="0.5 * F.kl_div(m.log(), p, reduction='sum') + 0.5 * F.kl_div(m.log(), q, reduction='sum')")),
            "xlogy": BEST_D.format(**RIGHT_D | dict(
                jsd="0.5 * (torch.special.xlogy(p, p) - torch.special.xlogy(p, m)).sum() + "
                    "0.5 * (torch.special.xlogy(q, q) - torch.special.xlogy(q, m)).sum()")),
        },
        "6 · Fréchet distance": {
            "scipy's sqrtm": "import scipy.linalg\n" + FD.format(body=block("""
                covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
                return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * covmean))
            """).strip()),
            "symmetric form": FD.format(body=block("""
                w, v = np.linalg.eigh(sigma1)
                root1 = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
                inner = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
                return float(np.dot(mu1 - mu2, mu1 - mu2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())
            """).strip()),
        },
    },
    "02_conditional_gan": {
        "1 · label embedding": {
            "an embedding plus a LayerNorm": LABEL.format(extra="        self.norm = nn.LayerNorm(embed_dim)",
                                                          body="torch.cat([z, self.norm(self.embed(y))], dim=1)"),
        },
        "2 · conditioned accuracy": {
            "numpy": ACCURACY.format(body=block("""
                p, r = np.asarray(predicted), np.asarray(requested)
                return float((p == r).mean()), np.array([(p[r == k] == k).mean() for k in range(num_classes)])
            """)),
            "bincount": ACCURACY.format(body=block("""
                hits = torch.bincount(requested[predicted == requested], minlength=num_classes)
                totals = torch.bincount(requested, minlength=num_classes)
                return hits.sum().item() / len(requested), hits / totals
            """)),
        },
        "3 · label channel": {
            "reshape": CHANNEL.format(body="torch.cat([x, embedding(y).reshape(len(y), 1, 28, 28)], 1)"),
            "stack": CHANNEL.format(body="torch.stack([x[:, 0], embedding(y).unflatten(1, (28, 28))], dim=1)"),
        },
    },
}


@pytest.fixture(scope="module")
def chapters() -> dict:
    """Per chapter: its cells by id and the namespace after its setup and parameters cells."""
    found = {}
    transform = TransformerManager().transform_cell  # the setup cell's %pip line, as Python
    for chapter in EXERCISES:
        notebook = nbformat.read(book.NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
        cells = {cell.id: cell for cell in notebook.cells}
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        parameters = next(cell for cell in code if "parameters" in cell.metadata.get("tags", []))
        namespace: dict = {"__name__": "__main__"}
        exec(compile(transform(code[0].source), f"<{chapter} setup>", "exec"), namespace)
        exec(compile(parameters.source + "\nPROFILE = 'smoke'", f"<{chapter} parameters>", "exec"), namespace)
        found[chapter] = {"cells": cells, "namespace": namespace}
    return found


def run_check(chapter: dict, answer: str, check_id: str, hidden: bool = True) -> dict:
    """Define ``answer`` in a copy of the chapter's namespace, run the check cell, and return
    {exercise name: ExerciseResult}; ``hidden=False`` runs the student edition's check."""
    namespace = dict(chapter["namespace"])
    exec(compile(answer, "<answer>", "exec"), namespace)
    source = chapter["cells"][check_id].source
    if not hidden:
        source = coursework.strip_hidden_tests(source)
    records: list = []
    listening = checks._records.set(records)
    try:
        exec(compile(source, "<check cell>", "exec"), namespace)
    finally:
        checks._records.reset(listening)
    return {record.name: record for record in records}


def cases(table: dict) -> list:
    return [pytest.param(chapter, name, label, source, id=f"{chapter[:2]}-{name}-{label}")
            for chapter, exercises in table.items() for name, answers in exercises.items()
            for label, source in answers.items()]


def test_every_checked_exercise_is_listed_here():
    for chapter, exercises in EXERCISES.items():
        notebook = nbformat.read(book.NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
        in_notebook = {name for cell in notebook.cells if cell.cell_type == "code"
                       for name, _ in coursework.check_exercises(cell.source)}
        assert in_notebook == set(exercises), chapter
        assert set(WRONG[chapter]) == set(exercises), f"{chapter}: every exercise needs known-wrong answers"


@pytest.mark.parametrize("chapter_name, name", [(c, n) for c, e in EXERCISES.items() for n in e])
def test_the_reference_solution_passes_and_the_stub_is_not_done(chapters, chapter_name, name):
    solution_id, check_id = EXERCISES[chapter_name][name]
    chapter = chapters[chapter_name]
    solution = chapter["cells"][solution_id].source
    assert run_check(chapter, solution, check_id)[name].status == checks.PASSED
    stub = coursework.strip_solutions(solution)
    result = run_check(chapter, stub, check_id, hidden=False)[name]
    assert result.status == checks.NOT_DONE and "Hint:" in result.message


@pytest.mark.parametrize("chapter_name, name, label, answer", cases(WRONG))
def test_a_known_wrong_answer_fails_with_its_hint(chapters, chapter_name, name, label, answer):
    result = run_check(chapters[chapter_name], answer, EXERCISES[chapter_name][name][1])[name]
    assert result.status == checks.FAILED, f"{label!r} was graded {result.status}"
    assert "\n  Hint: " in result.message and len(result.message.split("Hint: ")[1]) > 20


@pytest.mark.parametrize("chapter_name, name, label, answer", cases(HIDDEN_ONLY))
def test_a_hidden_case_catches_what_the_visible_ones_let_through(chapters, chapter_name, name, label, answer):
    check_id = EXERCISES[chapter_name][name][1]
    assert run_check(chapters[chapter_name], answer, check_id, hidden=False)[name].status == checks.PASSED
    assert run_check(chapters[chapter_name], answer, check_id)[name].status == checks.FAILED


@pytest.mark.parametrize("chapter_name, name, label, answer", cases(VALID))
def test_a_valid_variant_passes(chapters, chapter_name, name, label, answer):
    result = run_check(chapters[chapter_name], answer, EXERCISES[chapter_name][name][1])[name]
    assert result.status == checks.PASSED, result.message


@pytest.mark.parametrize("chapter_name", sorted(EXERCISES))
def test_student_editions_leave_out_the_answer_key_and_open_themselves(chapter_name, tmp_path):
    """No answer key, solution or hidden case in a student edition (nor in the student book's
    pages, which keep the run's other outputs), and its Colab badge opens the student edition."""
    instructor = nbformat.read(book.NOTEBOOKS / f"{chapter_name}.ipynb", as_version=4)
    keys = [cell for cell in instructor.cells if coursework.ANSWER_KEY in cell.metadata.get("tags", [])]
    assert keys and all(cell.cell_type == "markdown" and "Answer key" in cell.source for cell in keys)
    badge = coursework.student_badge(book.ROOT / "student", "someone/their-course", "main")
    assert badge == "https://colab.research.google.com/github/someone/their-course/blob/main/student/{name}"
    for keep_outputs in (False, True):
        student = coursework.student_edition(instructor, badge=badge, keep_outputs=keep_outputs)
        text = "\n".join(cell.source for cell in student.cells)
        assert "Answer key" not in text and "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert f"github/someone/their-course/blob/main/student/{chapter_name}.ipynb" in student.cells[0].source
        assert "colab.research.google.com/github/gan-course" not in text
        checked = [c for c in student.cells if c.cell_type == "code" and coursework.check_exercises(c.source)]
        assert checked and not any(c.outputs for c in checked)
        kept = [c for c in student.cells if c.cell_type == "code" and c.outputs]
        assert bool(kept) == keep_outputs  # the stored nbval outputs of the chapter's own cells
