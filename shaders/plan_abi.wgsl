// requires: rng.wgsl, process.wgsl, model_buffers.wgsl, mlp.wgsl, mixture.wgsl
// The plan interpreter's ABI: the op codes and the uniform it reads (src/exec/gpu/abi.rs is the
// Rust side, checked against this file by tests/shaders_validate.rs), its bindings, each
// particle's private state, and the accessors of the encoded words, the noise and the run's
// process, condition and mixture. The interpreter itself is plan_interpreter.wgsl.

const OP_INIT: u32 = 1u;
const OP_EVAL: u32 = 2u;
const OP_AXPY: u32 = 3u;
const OP_SNAPSHOT: u32 = 4u;
const OP_ADAPTIVE: u32 = 5u;
const OP_MALA_START: u32 = 6u;
const OP_MALA_STEP: u32 = 7u;
const OP_EVAL_AT_LEVEL: u32 = 8u;
const OP_GIBBS_LEVEL: u32 = 9u;
const OP_SKIP_IF: u32 = 10u;
const OP_LOAD_INPUT: u32 = 11u;
const OP_EVAL_DIFFUSION: u32 = 12u;
const OP_ADD_INCREMENT: u32 = 13u;
const OP_REPLACE: u32 = 14u;
const OP_GENERATOR_START: u32 = 15u;
const OP_GENERATOR_STEP: u32 = 16u;
const NO_REGISTER: u32 = 0xFFFFu;
const NO_COUNTER: u32 = 0xFFFFFFFFu;
const MODEL_MLP: u32 = 0u;
// A learned vector field (src/core/dynamics/field_model.rs): its head's words, then its MLP.
const MODEL_FIELD: u32 = 2u;
// A neural SDE with diagonal noise (src/core/nsde/sde_model.rs): its drift MLP, then one
// diffusion net per coordinate.
const MODEL_DIAGONAL_SDE: u32 = 3u;
// The SDE-GAN generator (src/core/nsde/generator_model.rs): its initial net, drift, diffusion
// and readout.
const MODEL_GENERATOR: u32 = 4u;
const MAX_LEVELS: u32 = 128u;
const MAX_STAGES: u32 = 8u;
// Registers per particle (src/core/sample/plan.rs: MAX_REGISTERS).
const MAX_REGISTERS: u32 = 24u;

struct RunParams {
    chunk_offset: u32,
    chunk_particles: u32,
    row_length: u32,
    registers: u32,
    seed_lo: u32,
    seed_hi: u32,
    code_start: u32,
    code_end: u32,
    traced: u32,
    model_kind: u32,
    param: u32,
    process_kind: u32,
    process_a: f32,
    process_b: f32,
    condition_x: f32,
    condition_y: f32,
    mlp: MlpShape,
    classifier: MlpShape,
    mixture_base: u32,
    mixture_components: u32,
    has_classifier: u32,
    work_budget: u32,
    eval_cost: u32,
    classifier_cost: u32,
    input_rows: u32,
    diffusion_cost: u32,
    diffusion: MlpShape,
    initial: MlpShape,
    readout: MlpShape,
}

@group(0) @binding(0) var<uniform> params: RunParams;
@group(0) @binding(1) var<storage, read> code: array<u32>;
@group(0) @binding(3) var<storage, read_write> registers: array<vec2<f32>>;
// Per particle, three vec4: (next op, the word SkipIf resumes at, model evaluations made,
// adaptive solve in progress), then the suspended solve's (t, h, y.x, y.y) and (y.z, steps,
// -, -) as bits.
@group(0) @binding(4) var<storage, read_write> progress: array<vec4<u32>>;
// frames[frame * traced + particle] for particles below `traced`.
@group(0) @binding(5) var<storage, read_write> frames: array<vec2<f32>>;
// Each particle's input rows (its start, its Brownian increments), particle by particle:
// inputs[(particle - chunk_offset) * input_rows + row].
@group(0) @binding(6) var<storage, read> inputs: array<vec2<f32>>;
// How many particles stopped on the budget in this dispatch.
@group(0) @binding(7) var<storage, read_write> status: atomic<u32>;

var<private> R: array<vec2<f32>, MAX_REGISTERS>;
var<private> level_logs: array<f32, MAX_LEVELS>;
var<private> stage_k: array<vec3<f32>, MAX_STAGES>;
var<private> particle: u32;
var<private> evaluations: u32;
var<private> spent: u32;
// A suspended adaptive solve.
var<private> solve_active: bool;
var<private> solve_t: f32;
var<private> solve_h: f32;
var<private> solve_y: vec3<f32>;
var<private> solve_steps: u32;
var<private> solve_failed: bool;

fn word_f32(at: u32) -> f32 {
    return bitcast<f32>(code[at]);
}

fn input_row(row: u32) -> vec2<f32> {
    return inputs[(particle - params.chunk_offset) * params.input_rows + row];
}

fn seed() -> vec2<u32> {
    return vec2<u32>(params.seed_lo, params.seed_hi);
}

// The two standard normals of draw `counter` (the first pair of the particle's Philox block).
fn noise(counter: u32) -> vec2<f32> {
    return normal4(seed(), vec2<u32>(particle, 0u), vec2<u32>(counter, 0u)).xy;
}

fn uniform_draw(counter: u32) -> f32 {
    return u32_to_open_unit_f32(random_u32x4(seed(), vec2<u32>(particle, 0u), vec2<u32>(counter, 0u)).x);
}

fn process() -> ProcessParams {
    return ProcessParams(params.process_kind, params.process_a, params.process_b);
}

fn condition() -> vec2<f32> {
    return vec2<f32>(params.condition_x, params.condition_y);
}

fn mixture() -> MixtureShape {
    return MixtureShape(params.mixture_base, params.mixture_components);
}
