// The buffers every model reads, bound the same way by every kernel that evaluates a model:
// the MLP's (and the level classifier's) parameters in the shared layout of
// src/core/nn/mlp.rs, or an exact Gaussian mixture's components (see mixture.wgsl).

@group(0) @binding(2) var<storage, read> model_data: array<f32>;
