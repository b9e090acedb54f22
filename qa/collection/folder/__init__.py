"""A collection kept in an index folder: the coordinator of its writes
(:mod:`collection`), compaction (:mod:`compaction`), and catching up with what other
processes commit (:mod:`follow`)."""

from qa.collection.folder.collection import FolderCollection, model_info
from qa.collection.folder.follow import Follower

__all__ = ["FolderCollection", "Follower", "model_info"]
