//! The network's weights in the order the tiled evaluation kernel (shaders/mlp_tiled.wgsl)
//! reads them: one `vec4` load per four inputs, and adjacent invocations on adjacent `vec4`s.
//!
//! In the shared layout (src/core/nn/mlp.rs) a layer's weights are row-major, W[o, i] at
//! `o * inputs + i`: the invocation for output o reads its row, and the invocation for o + 1
//! reads `inputs` floats further on, so a warp's loads are scattered, and a row that is not a
//! multiple of four floats long cannot be read as aligned `vec4`s. Here each layer is stored
//! as quads of inputs: quad q of output o is (W[o, 4q], ..., W[o, 4q + 3]) at `vec4` index
//! `layer start + q * outputs + o`, the inputs past the end zero. For a given q the invocations
//! of a workgroup read consecutive `vec4`s, one coalesced load. The biases stay where they are
//! in the shared layout (each is read once per tile).

use super::abi::MlpShape;

/// The kernel's padded input count of a layer with `inputs` inputs: whole quads.
pub fn quads(inputs: u32) -> u32 {
    inputs.div_ceil(4)
}

/// The (inputs, outputs) of each layer of `shape`, first to last.
pub fn layer_sizes(shape: &MlpShape) -> Vec<(u32, u32)> {
    let mut sizes = Vec::with_capacity(shape.depth as usize + 1);
    let mut inputs = shape.input_dim;
    for l in 0..=shape.depth {
        let outputs = if l == shape.depth { shape.outputs } else { shape.width };
        sizes.push((inputs, outputs));
        inputs = outputs;
    }
    sizes
}

/// `model_data`'s weights of the network `shape` in the quad order above, as floats (four per
/// `vec4`). Errors if `model_data` is too short for the shape (a bug in the caller).
pub fn pack_tiled_weights(shape: &MlpShape, model_data: &[f32]) -> Result<Vec<f32>, String> {
    let sizes = layer_sizes(shape);
    let total: usize = sizes.iter().map(|&(i, o)| quads(i) as usize * o as usize * 4).sum();
    let mut packed = Vec::with_capacity(total);
    let mut offset = shape.base as usize;
    for (inputs, outputs) in sizes {
        let (inputs, outputs) = (inputs as usize, outputs as usize);
        let weights = model_data.get(offset..offset + inputs * outputs).ok_or_else(|| {
            format!(
                "the model data hold {} floats; a {inputs}→{outputs} layer at {offset} needs {}",
                model_data.len(),
                offset + inputs * outputs
            )
        })?;
        for q in 0..quads(inputs as u32) as usize {
            for o in 0..outputs {
                for k in 0..4 {
                    let i = 4 * q + k;
                    packed.push(if i < inputs { weights[o * inputs + i] } else { 0.0 });
                }
            }
        }
        // Past the weights: the layer's biases, then the next layer.
        offset += inputs * outputs + outputs;
    }
    Ok(packed)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn shape(input_dim: u32, width: u32, depth: u32, outputs: u32, base: u32) -> MlpShape {
        MlpShape { base, width, depth, outputs, input_dim, ..MlpShape::default() }
    }

    /// Every weight lands at its quad's place, the padding is zero, and nothing else is
    /// there: the kernel's index `start + q * outputs + o`, component k, is W[o, 4q + k].
    #[test]
    fn each_weight_sits_at_its_quad_and_the_padding_is_zero() {
        // 7 inputs (one partial quad), width 5, depth 2, 2 outputs, after 3 floats of another model.
        let s = shape(7, 5, 2, 2, 3);
        let parameters: usize = layer_sizes(&s).iter().map(|&(i, o)| (i * o + o) as usize).sum();
        let data: Vec<f32> = (0..3 + parameters).map(|v| v as f32 + 0.5).collect();
        let packed = pack_tiled_weights(&s, &data).expect("packs");
        let mut start = 0usize; // in vec4s
        let mut offset = 3usize;
        for (inputs, outputs) in layer_sizes(&s) {
            let (inputs, outputs) = (inputs as usize, outputs as usize);
            for q in 0..quads(inputs as u32) as usize {
                for o in 0..outputs {
                    for k in 0..4 {
                        let got = packed[4 * (start + q * outputs + o) + k];
                        let i = 4 * q + k;
                        let want = if i < inputs { data[offset + o * inputs + i] } else { 0.0 };
                        assert_eq!(got, want, "layer at {offset}, output {o}, input {i}");
                    }
                }
            }
            start += quads(inputs as u32) as usize * outputs;
            offset += inputs * outputs + outputs;
        }
        assert_eq!(packed.len(), 4 * start, "no float past the last layer");
        assert_eq!(offset, data.len(), "the walk used every parameter");
    }

    #[test]
    fn too_short_model_data_is_an_error_not_a_panic() {
        let s = shape(15, 64, 2, 2, 0);
        let message = pack_tiled_weights(&s, &[0.0; 100]).expect_err("too short");
        assert!(message.contains("needs"), "{message}");
    }
}
