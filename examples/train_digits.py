"""Train a small CNN on scikit-learn's bundled 8x8 digits and track it with runstream.

The data ships inside scikit-learn, so this runs offline in seconds on a laptop CPU:

    python examples/train_digits.py --name baseline
    python examples/train_digits.py --name sgd --optimizer sgd --lr 0.05
    runstream compare baseline sgd --plot curves.png --metric accuracy
    runstream eval baseline --by parity --by density --plot reliability.png

With ``--data DIR`` the digits are read from ``DIR/digits.csv`` (written there from the
bundled copy when missing) and logged as a dataset version, stored by content, so that
``runstream reproduce`` can restore them even after the file changed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import runstream
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 10
NUM_SAMPLES = 8  # eval images whose predictions are logged every epoch (all of them at the end)
CLASS_NAMES = [str(digit) for digit in range(NUM_CLASSES)]
ASCII_RAMP = " .:-=+*#%@"  # dark to bright; pixel values run 0..16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2, help="peak learning rate of OneCycle")
    parser.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam")
    parser.add_argument("--hidden", type=int, default=128, help="width of the dense layer")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="run name (runstream picks one if unset)")
    parser.add_argument("--project", default="digits")
    parser.add_argument(
        "--data", default=None, help="read the digits from DIR/digits.csv and log them as a dataset"
    )
    return parser.parse_args(argv)


def digits_csv(directory: Path) -> Path:
    """``DIR/digits.csv``: 64 pixel counts and the label per row; written when missing."""
    path = directory / "digits.csv"
    if not path.exists():
        digits = load_digits()
        directory.mkdir(parents=True, exist_ok=True)
        table = np.column_stack([digits.data, digits.target]).astype(np.int64)
        np.savetxt(path, table, fmt="%d", delimiter=",")
    return path


def read_digits(data: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(images of shape (N, 8, 8), labels): from a CSV written by :func:`digits_csv`, else the
    copy bundled with scikit-learn."""
    if data is None:
        digits = load_digits()
        return digits.images, digits.target
    table = np.loadtxt(digits_csv(data), delimiter=",", dtype=np.int64, ndmin=2)
    return table[:, :64].reshape(-1, 8, 8).astype(np.float64), table[:, 64]


def load_data(
    seed: int, data: Path | None = None
) -> tuple[TensorDataset, TensorDataset, np.ndarray]:
    """Split the 1,797 digits 80/20, stratified, so the same seed gives the same eval set.

    Also returns the eval images' row numbers in the full data set: they are stable sample ids,
    so predictions for the same image can be followed across epochs and across runs.
    """
    raw_images, raw_labels = read_digits(data)
    indices = np.arange(len(raw_labels))
    train_idx, eval_idx = train_test_split(
        indices, test_size=0.2, random_state=seed, stratify=raw_labels
    )
    # (N, 1, 8, 8) in [0, 1]: the raw pixels are counts from 0 to 16.
    images = torch.tensor(raw_images / 16.0, dtype=torch.float32).unsqueeze(1)
    labels = torch.tensor(raw_labels, dtype=torch.long)
    train = TensorDataset(images[train_idx], labels[train_idx])
    evaluation = TensorDataset(images[eval_idx], labels[eval_idx])
    return train, evaluation, eval_idx


def build_model(hidden: int, dropout: float) -> nn.Module:
    """Two 3x3 convolutions are plenty for 8x8 inputs and reach ~98% in a few epochs."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, NUM_CLASSES),
    )


def build_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    params = model.parameters()
    if args.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay
        )
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    return torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)


def render(image: torch.Tensor) -> str:
    """An 8x8 image as 8 lines of ASCII art, so a sample reads at a glance in a terminal."""
    levels = (image.squeeze(0) * (len(ASCII_RAMP) - 1)).round().long()
    return "\n".join("".join(ASCII_RAMP[v] for v in row.tolist()) for row in levels)


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Counted in Python so 354/360 is logged as 0.98333..., not float32's 0.98333335."""
    return int((predictions == labels).sum()) / len(labels)


def slices(images: torch.Tensor, labels: torch.Tensor) -> dict[str, list[str]]:
    """What `runstream eval --by` breaks metrics down by: the digit's parity, and how much
    ink it has (its pixel mass in thirds of the eval set: light, medium, heavy strokes)."""
    ink = images.sum(dim=(1, 2, 3)).numpy()
    low, high = np.quantile(ink, [1 / 3, 2 / 3])
    return {
        "parity": ["even" if label % 2 == 0 else "odd" for label in labels.tolist()],
        "density": ["light" if v <= low else "heavy" if v > high else "medium" for v in ink],
    }


@torch.no_grad()
def evaluate(
    model: nn.Module, data: TensorDataset
) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy over the whole eval set, plus every prediction and its
    class probabilities."""
    model.eval()
    images, labels = data.tensors
    logits = model(images)  # 360 images: one batch is cheaper than a loader
    loss = nn.functional.cross_entropy(logits, labels).item()
    predictions = logits.argmax(dim=1)
    return loss, accuracy(predictions, labels), predictions, logits.softmax(dim=1)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # The tensors are tiny: a second thread saves nothing, and on a busy 2-core machine
    # its synchronisation made training 10-20x slower.
    torch.set_num_threads(1)

    # Where the run is filed (project, name) is not part of the experiment's config.
    config = {key: value for key, value in vars(args).items() if key not in ("project", "name")}
    if args.data is None:
        del config["data"]
    data = Path(args.data) if args.data is not None else None
    if data is not None:
        digits_csv(data)  # before init: the first run records the same code state as later ones
    with runstream.init(
        project=args.project, name=args.name, config=config, tags=["example"], seed=args.seed
    ) as run:
        if data is not None:
            run.log_dataset(data, name="digits", role="train", store=True)
        train_data, eval_data, eval_ids = load_data(args.seed, data)
        # init() seeded torch's global RNG (weights, dropout); the shuffle order gets its own
        # generator so that it depends on the seed alone, not on what ran before.
        loader = DataLoader(
            train_data,
            batch_size=args.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(args.seed),
        )
        model = build_model(args.hidden, args.dropout)
        optimizer = build_optimizer(model, args)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(loader)
        )
        # Learning rate, gradient and weight norms, update ratio, throughput: every 10 steps.
        run.watch(model, optimizer, every=10, batch_size=args.batch_size)

        eval_images, eval_labels = eval_data.tensors
        sample_inputs = [render(image) for image in eval_images]
        sample_labels = eval_labels.tolist()
        sample_ids = [f"digits-{i}" for i in eval_ids]
        sample_slices = slices(eval_images, eval_labels)

        step = 0
        started = time.perf_counter()
        for epoch in range(1, args.epochs + 1):
            model.train()
            for images, labels in loader:
                logits = model(images)
                loss = nn.functional.cross_entropy(logits, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                run.log(
                    {"loss": loss.item(), "accuracy": accuracy(logits.argmax(dim=1), labels)},
                    step=step,
                    split="train",
                )

            eval_loss, eval_accuracy, predictions, probabilities = evaluate(model, eval_data)
            run.log({"loss": eval_loss, "accuracy": eval_accuracy}, step=step, split="eval")
            shown = len(sample_ids) if epoch == args.epochs else NUM_SAMPLES
            run.log_samples(
                inputs=sample_inputs[:shown],
                predictions=predictions[:shown],
                labels=sample_labels[:shown],
                step=step,
                split="eval",
                ids=sample_ids[:shown],
                probabilities=probabilities[:shown],
                class_names=CLASS_NAMES,
                slices={key: values[:shown] for key, values in sample_slices.items()},
            )
            print(f"epoch {epoch:>3}  eval loss {eval_loss:.4f}  eval accuracy {eval_accuracy:.4f}")

        run.summary["eval.accuracy"] = eval_accuracy
        run.summary["eval.loss"] = eval_loss
        run.summary["train.seconds"] = round(time.perf_counter() - started, 2)

        # The tracker keeps its own content-addressed copy, so a temporary file is enough.
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = Path(tmp) / "model.pt"
            torch.save({"model": model.state_dict(), "config": vars(args)}, checkpoint)
            run.log_artifact(checkpoint, name="model", kind="checkpoint")


if __name__ == "__main__":
    main()
