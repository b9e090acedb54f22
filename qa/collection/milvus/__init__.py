"""A collection held whole in Milvus and served by stateless replicas: the collections and
their rows (:mod:`schema`), the calls to Milvus (:mod:`catalog`), a request's view of the
collection (:mod:`view`), writes (:mod:`writer`) and the collection the service opens
(:mod:`collection`)."""

from qa.collection.milvus.collection import (
    MilvusCollection,
    catalog_of,
    copy_folder,
    new_collection,
    replica_mode,
)
from qa.collection.milvus.view import MilvusView

__all__ = [
    "MilvusCollection",
    "MilvusView",
    "catalog_of",
    "copy_folder",
    "new_collection",
    "replica_mode",
]
