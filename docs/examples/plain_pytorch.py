"""A plain PyTorch training loop on scikit-learn's digits, with synthetic samples mixed in.

The three lines marked `# ganaug` are the whole change to the script: the dataset keeps its own
albumentations transform (SyntheticMix applies it to synthetic images too), the DataLoader and
the model are untouched.

    python docs/examples/plain_pytorch.py --generator runs/digits-seed0/generator --ratio 0.3

Without --generator an untrained generator is exported to a temporary directory: its images are
noise, but the wiring is exactly what it is with a trained one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import albumentations as A
import torch
from albumentations.pytorch import ToTensorV2
from torch.nn import functional as F
from torch.utils.data import DataLoader

import ganaug  # ganaug
from ganaug.classify.classifier import SmallCNN
from ganaug.data import load_digits


def demo_generator(out_dir: str) -> str:
    torch.manual_seed(0)
    net = ganaug.Generator(num_classes=10, image_size=8, channels=1, z_dim=16, width=8)
    return str(ganaug.export_generator(net, out_dir, class_names=[str(k) for k in range(10)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", help="a generator directory written by ganaug-train (or a bank directory)")
    parser.add_argument("--ratio", type=float, default=0.3, help="expected synthetic fraction of a batch, in [0, 1)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (0: load in this process)")
    args = parser.parse_args()
    if args.epochs < 1 or args.workers < 0:  # 0 epochs would report an untrained model's accuracy
        parser.error(f"--epochs must be >= 1 and --workers >= 0, got {args.epochs} and {args.workers}")
    tmp = tempfile.TemporaryDirectory()
    generator = args.generator or demo_generator(f"{tmp.name}/generator")

    normalize = [A.Normalize(mean=0.5, std=0.5), ToTensorV2()]
    train_tf = A.Compose([A.Affine(translate_px=(-1, 1), p=0.5), *normalize], seed=0)
    train = load_digits("train", transform=train_tf)
    test = load_digits("test", transform=A.Compose(normalize))

    train = ganaug.SyntheticMix(train, generator, ratio=args.ratio)  # ganaug
    loader = DataLoader(train, batch_size=64, shuffle=True, num_workers=args.workers)
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, image_size=8, width=16)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(args.epochs):
        train.set_epoch(epoch)  # ganaug
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch}: loss {loss.item():.3f} ({train.n_real} real + {train.n_syn} synthetic items)")

    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(test, batch_size=256))
    print(f"test accuracy {correct / len(test):.3f}")
    tmp.cleanup()


if __name__ == "__main__":
    try:
        main()
    except ganaug.GanaugError as e:  # a bad --generator or --ratio: the message says what to fix
        sys.exit(f"{sys.argv[0]}: error: {e}")
