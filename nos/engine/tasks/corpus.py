"""The character-level language-model corpus: public-domain English texts shipped with the package.

The file ``nos/engine/tasks/data/public_domain_texts.txt`` (`CORPUS_FILE`, 67,375 bytes of ASCII, 1,540
lines, SHA-256 ebeb2b8d…e55de9, pinned in the tests) holds 47 English texts, each headed by its
title and "by" its author, in roughly chronological order from Marlowe's "The Passionate Shepherd
to His Love" (1599) to Tennyson's "Crossing the Bar" (1889): five speeches from Shakespeare's
plays (Julius Caesar, As You Like It, Hamlet, The Merchant of Venice, Macbeth) and six of his
sonnets; poems by Jonson, Donne, Herrick, Milton, Marvell, Burns, Blake, Wordsworth, Byron,
Coleridge, Keats, Shelley, Emerson, Tennyson, Poe, Whitman, Arnold, Carroll, Lear, Lazarus,
Stevenson and Henley; the Declaration of Independence (1776), the Preamble to the Constitution
with the Bill of Rights, Lincoln's Gettysburg Address (the Bliss copy) and Second Inaugural
Address; and the opening pages of Pride and Prejudice, Moby-Dick and A Tale of Two Cities.

Licence: every text was published before 1900 and its author died before 1905, so all are in the
public domain (the national documents were never under copyright). The file was written out for
this project from the well-known standard texts, in plain ASCII ("--" for a dash, straight
quotes); spelling and punctuation follow common editions but may differ in small points from
any one of them. It is never downloaded: it installs with the package (``package-data``) and is
read with `importlib.resources`, so it is byte-identical on every machine.

Normalisation (`normalise`, deterministic): CR LF and lone CR become LF; the text is lowercased;
tabs become spaces; a double quote becomes an apostrophe; every character outside `ALPHABET`
(digits, "&", parentheses) becomes `OTHER`. Characters are then ids 0..V-1, their positions in
`ALPHABET` (V = 37). The split is by position: the last `VALIDATION_FRACTION` of the characters
are held out (6,738: the last word of the Second Inaugural Address and the eight poems after it),
the rest (60,637) are the training text.
"""

import functools
import hashlib
from importlib import resources

import numpy as np

CORPUS_FILE = "public_domain_texts.txt"
"""The corpus's file name in ``nos/engine/tasks/data``."""

OTHER = "#"
"""The symbol every character outside the alphabet becomes."""

ALPHABET = "\n !'#,-.:;?abcdefghijklmnopqrstuvwxyz"
"""The V = 37 characters of the model, in id order: newline, space, punctuation, OTHER, a..z."""

VALIDATION_FRACTION = 0.1
"""The held-out share of the normalised text, taken from its end."""

_INDEX = {char: i for i, char in enumerate(ALPHABET)}


def corpus_bytes() -> bytes:
    """The corpus file's bytes, read from the installed package (never from the network)."""
    return resources.files("nos.engine.tasks").joinpath("data", CORPUS_FILE).read_bytes()


def corpus_sha256() -> str:
    """Hex SHA-256 of the corpus file (pinned in the tests)."""
    return hashlib.sha256(corpus_bytes()).hexdigest()


def normalise(text: str) -> str:
    """``text`` in the model's alphabet: LF line ends, lowercase, '"' -> "'", tab -> ' ', others -> OTHER."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lower().replace("\t", " ").replace('"', "'")
    return "".join(char if char in _INDEX else OTHER for char in text)


def encode(text: str) -> np.ndarray:
    """int32 ids [len(text)] of normalised ``text`` (its positions in `ALPHABET`)."""
    text = normalise(text)
    return np.fromiter((_INDEX[char] for char in text), dtype=np.int32, count=len(text))


def decode(ids) -> str:
    """The characters of ids (the inverse of `encode` on normalised text)."""
    return "".join(ALPHABET[int(i)] for i in np.asarray(ids).ravel())


@functools.cache
def corpus_split() -> tuple:
    """(train, validation): read-only int32 ids of the normalised corpus, split by position.

    The validation part is the last ``round(VALIDATION_FRACTION * N)`` of the N characters.
    """
    ids = encode(corpus_bytes().decode("ascii"))
    cut = len(ids) - round(VALIDATION_FRACTION * len(ids))
    train, validation = ids[:cut].copy(), ids[cut:].copy()
    for array in (train, validation):
        array.setflags(write=False)
    return train, validation
