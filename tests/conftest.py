"""Two lanes, by folder: ``tests/unit`` (``make test-fast``: no child process, no model,
no browser) and ``tests/system`` (the real model, servers, Milvus, the browser). Shared
helpers: :mod:`tests.helpers`."""
