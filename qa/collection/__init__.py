"""Step 7: the collection — the product's documents, wherever they live: an index folder
(:mod:`folder`) or Milvus holding them whole for stateless replicas (:mod:`milvus`), both
behind :class:`Collection` and :class:`Home` (:mod:`base`), chosen once by
:func:`home_of` (:mod:`homes`)."""

from qa.collection.base import Collection, Home
from qa.collection.folder import FolderCollection, Follower
from qa.collection.homes import FolderHome, MilvusHome, home_of
from qa.collection.milvus import MilvusCollection, copy_folder, replica_mode

__all__ = [
    "Collection",
    "FolderCollection",
    "FolderHome",
    "Follower",
    "Home",
    "MilvusCollection",
    "MilvusHome",
    "copy_folder",
    "home_of",
    "replica_mode",
]
