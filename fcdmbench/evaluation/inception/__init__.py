"""ADM's Inception graph, run by either engine.

`backends` chooses the engine (`InceptionBackend`, `open_extractor`); `tf_inception` runs the graph
in TensorFlow as ADM's evaluator does; `graphdef` reads the frozen graph file without TensorFlow,
`torch_graph` and `torch_ops` execute it in PyTorch, `torch_inception` is the extractor built on
them; `cross_check` compares the two engines on a user's files. (The graph with the real
topology and random weights that tests and benchmarks use is written by
``tests/evaluation/standin_graph.py``.)
"""
