"""The Milvus client both Milvus stores share: the connection (Milvus Lite or a server, by
URI) and the fields and filter expressions of rows. The stores: the vector backend
(:mod:`qa.vectors.milvus`) and the collection held whole in Milvus (:mod:`qa.collection.milvus`)."""
