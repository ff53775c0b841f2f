//! The observation of one linear coordinate of x₀: u·x₀ = a with u a unit vector. Inpainting
//! observes x₀,₁ (u = e₁); LABS.md's "colourisation" observes a coordinate at 45°. The
//! rotation R (rows u and v, v ⊥ u) turns the observation into a coordinate: y = R x, y₁ = a,
//! and y₂ = v·x is free.

/// An observed line u·x = a.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineObservation {
    /// The unit normal u.
    pub u: [f64; 2],
    /// The observed value a.
    pub value: f64,
}

impl LineObservation {
    /// Observe x₀,₁ = a.
    pub fn first_coordinate(value: f64) -> Self {
        LineObservation { u: [1.0, 0.0], value }
    }

    /// Observe the coordinate along the angle `degrees` from the x₁ axis.
    pub fn at_angle(degrees: f64, value: f64) -> Result<Self, String> {
        if !(degrees.is_finite() && value.is_finite()) {
            return Err(format!("the observed line needs a finite angle and value, got {degrees}° and {value}"));
        }
        let r = degrees.to_radians();
        Ok(LineObservation { u: [r.cos(), r.sin()], value })
    }

    /// v: u turned a quarter counter-clockwise (the free direction).
    pub fn v(&self) -> [f64; 2] {
        [-self.u[1], self.u[0]]
    }

    /// (u·x, v·x).
    pub fn rotate(&self, x: [f64; 2]) -> [f64; 2] {
        let v = self.v();
        [self.u[0] * x[0] + self.u[1] * x[1], v[0] * x[0] + v[1] * x[1]]
    }

    /// The inverse rotation: y₁ u + y₂ v.
    pub fn unrotate(&self, y: [f64; 2]) -> [f64; 2] {
        let v = self.v();
        [y[0] * self.u[0] + y[1] * v[0], y[0] * self.u[1] + y[1] * v[1]]
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn the_rotation_is_orthonormal_and_observes_u() {
        for line in [LineObservation::first_coordinate(1.0), LineObservation::at_angle(45.0, 0.3).unwrap()] {
            let x = [0.7, -1.3];
            let y = line.rotate(x);
            let back = line.unrotate(y);
            assert!((back[0] - x[0]).abs() < 1e-15 && (back[1] - x[1]).abs() < 1e-15);
            assert!((y[0].hypot(y[1]) - x[0].hypot(x[1])).abs() < 1e-15);
            assert!((y[0] - (line.u[0] * x[0] + line.u[1] * x[1])).abs() < 1e-15);
        }
        assert_eq!(LineObservation::first_coordinate(2.0).rotate([3.0, 4.0]), [3.0, 4.0]);
        assert!(LineObservation::at_angle(f64::NAN, 1.0).is_err());
    }
}
