"""A trained model outside lstmcast: an ONNX graph with every layer's (h, c) as explicit inputs and outputs."""
