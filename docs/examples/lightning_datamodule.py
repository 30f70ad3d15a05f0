"""A LightningDataModule on scikit-learn's digits, with synthetic samples in its training batches.

The one line marked `# ganaug` is the whole change: `mix_datamodule` wraps the train loader
(same batch size, workers and transforms), leaves validation real, and Lightning advances the
synthetic draw every epoch.

    python docs/examples/lightning_datamodule.py --generator runs/digits-seed0/generator --ratio 0.3

Without --generator an untrained generator is exported to a temporary directory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import albumentations as A
import pytorch_lightning as pl
import torch
from albumentations.pytorch import ToTensorV2
from torch.nn import functional as F
from torch.utils.data import DataLoader

import ganaug
from ganaug.classify.classifier import SmallCNN
from ganaug.data import load_digits


class DigitsDataModule(pl.LightningDataModule):
    def __init__(self, batch_size: int = 64, num_workers: int = 2) -> None:
        super().__init__()
        self.batch_size, self.num_workers = batch_size, num_workers

    def setup(self, stage: str | None = None) -> None:
        normalize = [A.Normalize(mean=0.5, std=0.5), ToTensorV2()]
        self.train_set = load_digits("train", transform=A.Compose([A.Affine(translate_px=(-1, 1), p=0.5), *normalize]))
        self.val_set = load_digits("test", transform=A.Compose(normalize))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set, batch_size=self.batch_size, shuffle=True,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=256)


class LitClassifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = SmallCNN(num_classes=10, in_channels=1, image_size=8, width=16)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self.model(x).argmax(1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=2e-3)


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
    generator = args.generator
    if generator is None:
        torch.manual_seed(0)
        net = ganaug.Generator(num_classes=10, image_size=8, channels=1, z_dim=16, width=8)
        generator = ganaug.export_generator(net, f"{tmp.name}/generator", class_names=[str(k) for k in range(10)])

    pl.seed_everything(0, verbose=False)
    dm = DigitsDataModule(num_workers=args.workers)
    dm = ganaug.mix_datamodule(dm, generator, ratio=args.ratio)  # ganaug
    trainer = pl.Trainer(
        max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(LitClassifier(), datamodule=dm)
    mix = trainer.train_dataloader.dataset
    print(f"trained {args.epochs} epochs on {mix.n_real} real + {mix.n_syn} synthetic items per epoch; "
          f"val_acc {float(trainer.callback_metrics['val_acc']):.3f}")
    tmp.cleanup()


if __name__ == "__main__":
    try:
        main()
    except ganaug.GanaugError as e:  # a bad --generator or --ratio: the message says what to fix
        sys.exit(f"{sys.argv[0]}: error: {e}")
