//! The continuous 2D navigation environment of LABS.md (this project's own layout: the
//! paper's toy was not available). States in [0, 1]², actions in [−1, 1]²,
//! s′ = clip(s + 0.05 a + N(0, 0.01² I)); a wall at x = 0.5 for y ≤ 0.7 stops the part of a
//! move that crosses it (the agent slides along it: x stays, y moves); the goal disk at (0.85, 0.15) of radius 0.07 is terminal with reward 1.
//!
//! The behaviour data: a waypoint controller (start → (0.5, 0.85), over the wall's end, →
//! goal) with action noise N(0, 0.3²) and 20% uniform actions, from starts U[0.1, 0.3]²;
//! 300 episodes of at most 120 steps. The data set's rewards are relabelled as the reference
//! does for its sparse-goal tasks (`main_odice_rl.py`, antmaze: 0 → −3, the goal's 1 → 0).
//! Without that, the value objective's (1 − λ) E_D[V(s)] term makes V largest far from the
//! goal (a terminal transition ends the per-step offset (1 − λ)/λ that V accumulates), and
//! every rule's weighted cloning walks away from the goal (measured: 0 of 100 rollouts).
//! LABS.md's wall cancels a crossing move outright; with that wall every rule's policy
//! ended 96 to 100% of its in-distribution rollouts pressed against it (the networks blend
//! the "right, down" actions of the far side into the near side, and a move with any
//! rightward part is lost), which measures the wall, not the value rule. Sliding keeps the
//! wall an obstacle that the data must go round, without that trap.
//!
//! Out-of-distribution starts are the top-left block
//! U[0.1, 0.3] × U[0.7, 0.9] (LABS.md) and a block right of the wall, U[0.55, 0.65] ×
//! U[0.2, 0.45], which the controller's way down from the waypoint passes at a distance.

use crate::core::rng::RngStream;

pub const GAMMA: f64 = 0.99;
/// How far one unit action moves.
pub const STEP: f64 = 0.05;
/// The standard deviation of the move's noise.
pub const MOVE_NOISE: f64 = 0.01;
pub const WALL_X: f64 = 0.5;
/// The wall runs from y = 0 to this height.
pub const WALL_TOP: f64 = 0.7;
pub const GOAL: [f64; 2] = [0.85, 0.15];
pub const GOAL_RADIUS: f64 = 0.07;
pub const HORIZON: usize = 120;
pub const WAYPOINT: [f64; 2] = [0.5, 0.85];
/// The behaviour's action noise and its share of uniform actions.
pub const ACTION_NOISE: f64 = 0.3;
pub const UNIFORM_SHARE: f64 = 0.2;
pub const EPISODES: usize = 300;
/// The data set's rewards after relabelling: a step, and the step into the goal.
pub const REWARD_STEP: f64 = -3.0;
pub const REWARD_GOAL: f64 = 0.0;
/// Start boxes [x0, x1, y0, y1].
pub const START_IN: [f64; 4] = [0.1, 0.3, 0.1, 0.3];
pub const START_OOD_TOP_LEFT: [f64; 4] = [0.1, 0.3, 0.7, 0.9];
pub const START_OOD_RIGHT: [f64; 4] = [0.55, 0.65, 0.2, 0.45];

/// One observed transition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    pub s: [f64; 2],
    pub a: [f64; 2],
    pub r: f64,
    pub next: [f64; 2],
    pub done: bool,
}

/// Whether the straight move from `from` to `to` crosses the wall.
pub fn crosses_wall(from: [f64; 2], to: [f64; 2]) -> bool {
    let (left_before, left_after) = (from[0] < WALL_X, to[0] < WALL_X);
    if left_before == left_after {
        return false;
    }
    let t = (WALL_X - from[0]) / (to[0] - from[0]);
    from[1] + t * (to[1] - from[1]) <= WALL_TOP
}

pub fn in_goal(s: [f64; 2]) -> bool {
    (s[0] - GOAL[0]).hypot(s[1] - GOAL[1]) <= GOAL_RADIUS
}

/// The environment's move: (s′, reward, terminal). `noise` is two standard normals.
pub fn step(s: [f64; 2], a: [f64; 2], noise: [f64; 2]) -> ([f64; 2], f64, bool) {
    let a = [a[0].clamp(-1.0, 1.0), a[1].clamp(-1.0, 1.0)];
    let to = [
        (s[0] + STEP * a[0] + MOVE_NOISE * noise[0]).clamp(0.0, 1.0),
        (s[1] + STEP * a[1] + MOVE_NOISE * noise[1]).clamp(0.0, 1.0),
    ];
    let next = if crosses_wall(s, to) { [s[0], to[1]] } else { to };
    let done = in_goal(next);
    (next, if done { 1.0 } else { 0.0 }, done)
}

/// A point uniform in the box [x0, x1, y0, y1].
pub fn uniform_in(rng: &mut RngStream, b: [f64; 4]) -> [f64; 2] {
    [b[0] + (b[1] - b[0]) * rng.uniform(), b[2] + (b[3] - b[2]) * rng.uniform()]
}

/// The waypoint controller's unit action: for the waypoint over the wall's end while left
/// of the wall, then for the goal. (Turning for the goal as soon as the straight line clears
/// the wall cuts the corner: a policy that averages the two directions there walks into
/// the wall's end and stays.)
fn controller(s: [f64; 2]) -> [f64; 2] {
    let target = if s[0] < WALL_X { WAYPOINT } else { GOAL };
    let (dx, dy) = (target[0] - s[0], target[1] - s[1]);
    let length = dx.hypot(dy).max(1e-12);
    [dx / length, dy / length]
}

/// The behaviour data set: `episodes` episodes from `seed` (each episode its own stream),
/// rewards relabelled ([`REWARD_STEP`], [`REWARD_GOAL`]).
pub fn behaviour_data(seed: u64, episodes: usize, action_noise: f64) -> Vec<Transition> {
    let mut data = Vec::new();
    for episode in 0..episodes {
        let mut rng = RngStream::new(seed, 0x6e61_7600_0000 + episode as u64); // "nav"
        let mut s = uniform_in(&mut rng, START_IN);
        for _ in 0..HORIZON {
            let a = if rng.uniform() < UNIFORM_SHARE {
                [2.0 * rng.uniform() - 1.0, 2.0 * rng.uniform() - 1.0]
            } else {
                let c = controller(s);
                [
                    (c[0] + action_noise * rng.normal()).clamp(-1.0, 1.0),
                    (c[1] + action_noise * rng.normal()).clamp(-1.0, 1.0),
                ]
            };
            let (next, _, done) = step(s, a, [rng.normal(), rng.normal()]);
            let r = if done { REWARD_GOAL } else { REWARD_STEP };
            data.push(Transition { s, a, r, next, done });
            if done {
                break;
            }
            s = next;
        }
    }
    data
}

/// Where a policy's rollouts start: `count` in distribution, or `count` out of it (half in
/// each OOD block), from their own stream of `seed`.
pub fn starts(seed: u64, count: usize, in_distribution: bool) -> Vec<[f64; 2]> {
    let mut rng = RngStream::new(seed, if in_distribution { 0x7374_6172_7400 } else { 0x7374_6172_7401 });
    (0..count)
        .map(|k| {
            let block = if in_distribution {
                START_IN
            } else if k % 2 == 0 {
                START_OOD_TOP_LEFT
            } else {
                START_OOD_RIGHT
            };
            uniform_in(&mut rng, block)
        })
        .collect()
}

/// One rollout of a policy: its states from the start, whether it reached the goal.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub path: Vec<[f64; 2]>,
    pub success: bool,
}

/// Rollouts from every start in lock-step, advanced a few steps at a time (the page runs
/// them in slices), so that the policy evaluates all live ones at once. Rollout k's move
/// noise comes from stream k of the seed.
#[derive(Debug, Clone)]
pub struct RolloutBatch {
    pub runs: Vec<Rollout>,
    rngs: Vec<RngStream>,
    live: Vec<usize>,
    steps: usize,
}

/// A policy over many states: one action per state into `actions`.
pub type BatchPolicy<'a> = dyn FnMut(&[[f64; 2]], &mut Vec<[f64; 2]>) + 'a;

impl RolloutBatch {
    pub fn new(starts: &[[f64; 2]], seed: u64) -> Self {
        RolloutBatch {
            runs: starts.iter().map(|s| Rollout { path: vec![*s], success: false }).collect(),
            rngs: (0..starts.len()).map(|k| RngStream::new(seed, 0x726f_6c6c_0000 + k as u64)).collect(),
            live: (0..starts.len()).collect(),
            steps: 0,
        }
    }

    pub fn done(&self) -> bool {
        self.live.is_empty() || self.steps >= HORIZON
    }

    /// Up to `count` more steps of every live rollout.
    pub fn advance(&mut self, count: usize, policy: &mut BatchPolicy) {
        let (mut states, mut actions) = (Vec::new(), Vec::new());
        for _ in 0..count {
            if self.done() {
                return;
            }
            states.clear();
            states.extend(self.live.iter().map(|&k| *self.runs[k].path.last().expect("a start")));
            policy(&states, &mut actions);
            let mut still = Vec::with_capacity(self.live.len());
            for (i, &k) in self.live.iter().enumerate() {
                let rng = &mut self.rngs[k];
                let (next, _, done) = step(states[i], actions[i], [rng.normal(), rng.normal()]);
                self.runs[k].path.push(next);
                if done {
                    self.runs[k].success = true;
                } else {
                    still.push(k);
                }
            }
            self.live = still;
            self.steps += 1;
        }
    }
}

/// Every rollout from `starts` to its end (goal or horizon).
pub fn rollouts(starts: &[[f64; 2]], seed: u64, policy: &mut BatchPolicy) -> Vec<Rollout> {
    let mut batch = RolloutBatch::new(starts, seed);
    batch.advance(HORIZON, policy);
    batch.runs
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn the_wall_cancels_crossing_moves_and_the_goal_ends_an_episode() {
        // Across the wall below its top: the crossing part is stopped, the rest slides;
        // above it: allowed.
        assert_eq!(step([0.48, 0.3], [1.0, 0.0], [0.0, 0.0]).0, [0.48, 0.3]);
        assert_eq!(step([0.48, 0.3], [1.0, 1.0], [0.0, 0.0]).0, [0.48, 0.35]);
        assert_eq!(step([0.52, 0.3], [-1.0, -1.0], [0.0, 0.0]).0, [0.52, 0.25]);
        let over = step([0.48, 0.75], [1.0, 0.0], [0.0, 0.0]).0;
        assert!((over[0] - 0.53).abs() < 1e-12 && over[1] == 0.75);
        // A diagonal move that crosses x = 0.5 at y = 0.71 passes; one at 0.69 does not.
        assert!(!crosses_wall([0.49, 0.70], [0.51, 0.72]));
        assert!(crosses_wall([0.49, 0.68], [0.51, 0.70]));
        // Clipped to the box; the goal is terminal with reward 1.
        assert_eq!(step([0.99, 0.01], [1.0, -1.0], [0.0, 0.0]).0, [1.0, 0.0]);
        assert_eq!(step([0.83, 0.15], [0.0, 0.0], [0.0, 0.0]), ([0.83, 0.15], 1.0, true));
    }

    /// The behaviour data are deterministic, reach the goal mostly, go round the wall (no
    /// transition crosses it) and are the size LABS.md expects (about 10⁴ transitions).
    #[test]
    fn the_behaviour_data_go_round_the_wall_to_the_goal() {
        let data = behaviour_data(0, EPISODES, ACTION_NOISE);
        assert_eq!(data, behaviour_data(0, EPISODES, ACTION_NOISE));
        let reached = data.iter().filter(|t| t.done).count();
        assert!(reached >= 270, "{reached} of {EPISODES} episodes reach the goal");
        assert!(data.iter().all(|t| !crosses_wall(t.s, t.next)));
        assert!((6_000..30_000).contains(&data.len()), "{} transitions", data.len());
        assert!(data.iter().all(|t| t.r == if t.done { REWARD_GOAL } else { REWARD_STEP }));
        // The top-left OOD block is rarely visited by the data.
        let b = START_OOD_TOP_LEFT;
        let inside = data.iter().filter(|t| (b[0]..b[1]).contains(&t.s[0]) && (b[2]..b[3]).contains(&t.s[1])).count();
        assert!(inside * 50 < data.len(), "{inside} of {} in the OOD block", data.len());
    }

    /// The controller itself, with no noise, reaches the goal from every start, in and out of
    /// distribution: the task is solvable from all of them.
    #[test]
    fn the_noise_free_controller_reaches_the_goal_from_every_start() {
        let mut from = starts(1, 20, true);
        from.extend(starts(1, 20, false));
        let mut policy = |states: &[[f64; 2]], actions: &mut Vec<[f64; 2]>| {
            actions.clear();
            actions.extend(states.iter().map(|s| controller(*s)));
        };
        let runs = rollouts(&from, 0, &mut policy);
        assert!(runs.iter().all(|r| r.success), "{:?}", runs.iter().map(|r| r.path[0]).collect::<Vec<_>>());
        assert!(runs.iter().all(|r| r.path.len() <= 50));
    }
}
