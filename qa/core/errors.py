"""Errors the product reports to users: each message says what is wrong and what to do.

The HTTP API maps each class to a status code and an error code (``qa/api/errors.py``);
the command line prints the message as one line and exits with code 1.
"""


class QAError(Exception):
    """Base class: a problem with the user's input or data, reported as one readable line."""


class IngestError(QAError):
    """A source cannot be read: missing path, empty folder, bad encoding, malformed record."""


class UnsupportedFileTypeError(IngestError):
    """An uploaded or named file is of a type that cannot be ingested."""


class DocumentTooLargeError(IngestError):
    """A document or upload is larger than the configured limit."""


class IndexNotFoundError(QAError):
    """No index has been built at the configured location."""


class IndexMismatchError(QAError):
    """The index on disk was built with another model or an incompatible format."""


class ModelLoadError(QAError):
    """The embedding model cannot be loaded."""


class IndexBusyError(QAError):
    """Another process holds the index's write lock."""


class ChangedWhileReadError(IndexBusyError):
    """A document changed between two reads of one request (a replica reading Milvus
    while another replica writes): the request is answered again from the start."""


class WouldDropDocumentsError(QAError):
    """Rebuilding the index from its sources would drop documents only the index holds."""


class DocumentNotFoundError(QAError):
    """No document with the given id is in the collection."""


class VectorStoreError(QAError):
    """The external vector store (Milvus) cannot be reached or refused an operation."""


class PreconditionFailedError(QAError):
    """A conditional write (``If-Match``) found the document changed since it was read."""
