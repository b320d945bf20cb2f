"""Retrain the digit classifier shipped in gan_helpers/weights (what `make classifier` runs).

    python tools/train_classifier.py --root data [--epochs 30] [--seed 0] [--out PATH]
"""

from gan_helpers.classifier import main

if __name__ == "__main__":
    main()
