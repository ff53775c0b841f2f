//! The tabular grid of LABS.md (this project's own layout): 7×7 cells, actions up, down,
//! left, right and stay, deterministic moves blocked by the borders, the goal (6, 6) terminal
//! with reward 1 (0 elsewhere), γ = 0.95. The behaviour policy takes a shortest-path action
//! with probability 0.7 and a uniform one otherwise, from starts uniform on the bottom-left
//! 2×2 block; 200 episodes of at most 40 steps.

use crate::core::rng::RngStream;

pub const SIDE: usize = 7;
pub const STATES: usize = SIDE * SIDE;
pub const ACTIONS: usize = 5;
pub const GOAL: (usize, usize) = (6, 6);
pub const GAMMA: f64 = 0.95;
pub const EPISODES: usize = 200;
pub const MAX_STEPS: usize = 40;
pub const GREEDY: f64 = 0.7;

/// Action k's move (dx, dy): up, down, left, right, stay.
pub const MOVES: [(i64, i64); ACTIONS] = [(0, 1), (0, -1), (-1, 0), (1, 0), (0, 0)];
pub const ACTION_NAMES: [&str; ACTIONS] = ["up", "down", "left", "right", "stay"];

pub fn index(x: usize, y: usize) -> usize {
    y * SIDE + x
}

pub fn cell(s: usize) -> (usize, usize) {
    (s % SIDE, s / SIDE)
}

pub fn goal() -> usize {
    index(GOAL.0, GOAL.1)
}

/// Where action `a` takes state `s` (a move off the grid stays put).
pub fn step(s: usize, a: usize) -> usize {
    let (x, y) = cell(s);
    let (dx, dy) = MOVES[a];
    let nx = (x as i64 + dx).clamp(0, SIDE as i64 - 1) as usize;
    let ny = (y as i64 + dy).clamp(0, SIDE as i64 - 1) as usize;
    index(nx, ny)
}

/// One observed transition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    pub s: usize,
    pub a: usize,
    pub r: f64,
    pub next: usize,
    pub done: bool,
}

/// The behaviour data set. Transitions into a non-terminal state that the data never leave
/// (the last of a truncated episode, when nothing else visits it) are dropped: the tabular
/// objective then has a minimiser (a state seen only as s′ would push its V to −∞ under the
/// true gradient).
pub fn behaviour_data(seed: u64) -> Vec<Transition> {
    let mut rng = RngStream::new(seed, 0x6f64_6963); // stream: "odic"
    let mut data = Vec::new();
    for _ in 0..EPISODES {
        let mut s = index(rng.below(2), rng.below(2));
        for _ in 0..MAX_STEPS {
            let (x, y) = cell(s);
            let a = if rng.uniform() < GREEDY {
                // A shortest-path move: right or up, whichever still shortens the way.
                match (x < GOAL.0, y < GOAL.1) {
                    (true, true) => {
                        if rng.uniform() < 0.5 {
                            3
                        } else {
                            0
                        }
                    }
                    (true, false) => 3,
                    (false, true) => 0,
                    (false, false) => 4,
                }
            } else {
                rng.below(ACTIONS)
            };
            let next = step(s, a);
            let done = next == goal();
            data.push(Transition { s, a, r: if done { 1.0 } else { 0.0 }, next, done });
            if done {
                break;
            }
            s = next;
        }
    }
    let mut left = [false; STATES];
    for t in &data {
        left[t.s] = true;
    }
    data.retain(|t| t.done || left[t.next]);
    data
}

/// Transitions out of each state.
pub fn visits(data: &[Transition]) -> [usize; STATES] {
    let mut n = [0; STATES];
    for t in data {
        n[t.s] += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn the_data_reach_the_goal_and_every_next_state_is_left_or_terminal() {
        let data = behaviour_data(0);
        let n = visits(&data);
        let reached = data.iter().filter(|t| t.done).count();
        assert!(reached > 150, "{reached} of 200 episodes reach the goal");
        assert!(data.iter().all(|t| t.done || n[t.next] > 0));
        assert!(data.iter().all(|t| t.s != goal()), "the goal is terminal");
        assert_eq!(step(index(0, 0), 1), index(0, 0), "a move off the grid stays put");
        assert_eq!(step(index(0, 0), 3), index(1, 0));
    }
}
