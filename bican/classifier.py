"""The scorer of reconstructions: a LeNet-size MNIST classifier, its training, and its weights file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import data
from .weights import CLASSIFIER, SHIPPED, _read, _write


class Classifier(nn.Module):
    """A LeNet-size MNIST classifier, used to score reconstructions."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10),
        )

    def forward(self, digits: torch.Tensor) -> torch.Tensor:
        return self.net(digits.to(torch.float32).unsqueeze(1) / 255.0 - 0.1307)


@torch.no_grad()
def classify(classifier: Classifier, digits: np.ndarray) -> np.ndarray:
    out = [classifier(torch.from_numpy(digits[i:i + 4096])).argmax(1) for i in range(0, len(digits), 4096)]
    return torch.cat(out).numpy()


@torch.no_grad()
def probabilities(classifier: Classifier, digits: np.ndarray) -> np.ndarray:
    """The classifier's probability of each class [N, 10] for uint8 digits [N, 28, 28]."""
    return torch.softmax(classifier(torch.from_numpy(np.ascontiguousarray(digits))), dim=1).numpy()


def train(out: Path, epochs: int = 4, progress: Callable[[int, float], Any] | None = None, seed: int = 0) -> float:
    """Train the classifier on the 60k training digits; save it; return test accuracy."""
    torch.manual_seed(seed)
    train_split, test = data.load("train"), data.load("test")
    images, labels = torch.from_numpy(train_split.images.copy()), torch.from_numpy(train_split.labels)
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    accuracy = 0.0
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(images), generator=generator).split(128):
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        accuracy = float(np.mean(classify(model, test.images) == test.labels))
        if progress:
            progress(epoch + 1, accuracy)
    save(Path(out), model, {"test_accuracy": accuracy, "epochs": epochs})
    return accuracy


def save(path: Path, model: Classifier, info: dict[str, Any]) -> str:
    # Stored as float16 and run as float32, as the codec networks are: it leaves room in the weights budget.
    tensors = {k: v.detach().cpu().half().contiguous() for k, v in model.state_dict().items()}
    return _write(path, tensors, {"kind": "classifier", "info": json.dumps(info)})


def load(path: Path | None = None) -> Classifier:
    """The shipped classifier, or the one at `path`."""
    tensors, _ = _read(path or SHIPPED / f"{CLASSIFIER}.safetensors", "classifier")
    model = Classifier()
    model.load_state_dict(tensors)
    return model.eval()
