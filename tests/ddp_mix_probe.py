"""Run by tests/test_mix.py in its own process: a SyntheticMix under Lightning DDP on 2 CPU processes.

Each rank records, per epoch, the indices of the real items and the pixels of the synthetic items
it trained on, to <out>/<mode>/rank<k>.json. Usage: python ddp_mix_probe.py OUT_DIR MODE[,MODE] (sampler, exact):
one DDP launch for both modes (each launch costs seconds of process start).
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from ganaug import Generator, SyntheticBank, mix_datamodule
from ganaug.data import ImageArrayDataset
from ganaug.gan.sampling import TrainedGenerator

NAMES = [str(k) for k in range(4)]


def real_set() -> ImageArrayDataset:
    # Images carry their own index in two pixels, so every real item can be traced.
    n = 96
    images = np.full((n, 8, 8, 1), 7, dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    return ImageArrayDataset(images, np.arange(n) % 4, NAMES)


class DM(pl.LightningDataModule):
    def train_dataloader(self):
        return DataLoader(real_set(), batch_size=8, shuffle=True)


class Probe(pl.LightningModule):
    def __init__(self, out: Path):
        super().__init__()
        self.lin = nn.Linear(64, 4)
        self.out = out
        self.seen: dict[int, dict[str, list]] = {}

    def training_step(self, batch, _):
        x, y, flag = batch
        rec = self.seen.setdefault(self.current_epoch, {"real": [], "synthetic": []})
        for img, f in zip(x, flag):
            if f:
                rec["synthetic"].append(hashlib.sha1(img.numpy().tobytes()).hexdigest())
            else:
                rec["real"].append(int(img[0, 0, 0]))
        return F.cross_entropy(self.lin(x.float().flatten(1) / 255), y)

    def on_train_end(self):
        (self.out / f"rank{self.global_rank}.json").write_text(json.dumps(self.seen))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main() -> None:
    out, modes = Path(sys.argv[1]), sys.argv[2].split(",")
    torch.manual_seed(0)
    gen = TrainedGenerator(Generator(4, 8, 1, z_dim=16, width=8), NAMES)
    bank = SyntheticBank.generate(gen, 400, seed=0, progress=False)
    for mode in modes:
        (out / mode).mkdir(exist_ok=True)
        dm = mix_datamodule(DM(), bank, 0.25, exact=mode == "exact", return_flag=True)
        trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(Probe(out / mode), datamodule=dm)


if __name__ == "__main__":
    main()
