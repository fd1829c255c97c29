"""Sentence embeddings of memory nodes, from a model shipped inside a pinned package.

The model is WordLlama's 256-dimension static embeddings (`wordllama` in requirements.txt; README
"Dependencies" says why this one): a token-embedding table and a tokenizer, both inside the wheel, so
nothing is downloaded at run time (`disable_download=True` makes a missing file an error rather than a
download attempt). It is loaded once per process, on first use (about 0.7 s), and embeds a node in well
under a millisecond, on the CPU, without torch.

Vectors are stored as float32 bytes of unit length: cosine similarity is then a dot product.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import wordllama

from memory_graph.documents import document_for

MODEL_NAME = f"wordllama-{wordllama.__version__}-l2_supercat-256"
DIMENSIONS = 256
# What of a node is embedded: a bag-of-tokens model gains nothing from the 100,000th character.
TEXT_MAX = 4_000

_model: Any = None
_lock = threading.Lock()


def model() -> Any:
    """The process's one WordLlama instance, loaded on first use."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = wordllama.WordLlama.load(
                    config="l2_supercat",
                    dim=DIMENSIONS,
                    cache_dir=Path(wordllama.__file__).parent,
                    disable_download=True,
                )
    return _model


def node_text(*, content: str, metadata: dict[str, Any] | None) -> str:
    """The text a node is embedded from: its title, description and steps (people are left out:
    names say nothing of what a plan is about)."""
    document = document_for(content=content, metadata=metadata)
    return f"{document.title}\n{document.body}"[:TEXT_MAX]


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (a text with no known token gives zeros)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    # Text that is not valid Unicode (a lone surrogate from a hostile query) is refused by the
    # tokenizer: drop what cannot be encoded.
    clean = [text.encode("utf-8", "ignore").decode("utf-8") for text in texts]
    vectors = np.asarray(model().embed(clean, norm=False, batch_size=max(64, len(clean))), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<f4")
