"""Milvus (Lite, standalone or a cluster): the vector backend for collections that outgrow
one process."""
