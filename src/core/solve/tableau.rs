//! Explicit Runge-Kutta methods as data: a Butcher tableau per method. A method is its
//! coefficients; one generic step (`rk::rk_step`) runs them all, on the CPU and, through
//! the same numbers, in WGSL plans.

/// c (nodes), a (strictly lower-triangular rows), b (weights) and, for embedded pairs, the
/// error weights e = b - b_hat, whose combination estimates the local error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ButcherTableau {
    pub name: &'static str,
    pub c: &'static [f64],
    pub a: &'static [&'static [f64]],
    pub b: &'static [f64],
    pub error: Option<&'static [f64]>,
    /// Order of the solution b.
    pub order: u32,
    /// Order of the embedded solution b_hat = b - e.
    pub embedded_order: Option<u32>,
}

impl ButcherTableau {
    pub fn stages(&self) -> usize {
        self.b.len()
    }

    /// Every tableau, for lookups by name.
    pub const ALL: [ButcherTableau; 8] = [EULER, HEUN, MIDPOINT, RALSTON, RK4, BOSH3, TSIT5, DOPRI5];

    pub fn from_name(name: &str) -> Result<ButcherTableau, String> {
        Self::ALL.into_iter().find(|t| t.name == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|t| t.name).collect();
            format!("unknown ODE solver '{name}': choose one of {}", names.join(", "))
        })
    }
}

/// A tableau travels by its name (a plan posted to a Web Worker): its coefficients are
/// constants of this program, so the name is all the other side needs, and a name it does
/// not know is refused with the list of those it does.
impl serde::Serialize for ButcherTableau {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name)
    }
}

impl<'de> serde::Deserialize<'de> for ButcherTableau {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ButcherTableau::from_name(&name).map_err(serde::de::Error::custom)
    }
}

pub const EULER: ButcherTableau =
    ButcherTableau { name: "euler", c: &[0.0], a: &[&[]], b: &[1.0], error: None, order: 1, embedded_order: None };

pub const HEUN: ButcherTableau = ButcherTableau {
    name: "heun",
    c: &[0.0, 1.0],
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    // Embedded Euler: b_hat = (1, 0).
    error: Some(&[-0.5, 0.5]),
    order: 2,
    embedded_order: Some(1),
};

pub const MIDPOINT: ButcherTableau = ButcherTableau {
    name: "midpoint",
    c: &[0.0, 0.5],
    a: &[&[], &[0.5]],
    b: &[0.0, 1.0],
    error: None,
    order: 2,
    embedded_order: None,
};

pub const RALSTON: ButcherTableau = ButcherTableau {
    name: "ralston",
    c: &[0.0, 2.0 / 3.0],
    a: &[&[], &[2.0 / 3.0]],
    b: &[0.25, 0.75],
    error: None,
    order: 2,
    embedded_order: None,
};

pub const RK4: ButcherTableau = ButcherTableau {
    name: "rk4",
    c: &[0.0, 0.5, 0.5, 1.0],
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    error: None,
    order: 4,
    embedded_order: None,
};

/// Bogacki-Shampine 3(2), first same as last.
pub const BOSH3: ButcherTableau = ButcherTableau {
    name: "bosh3",
    c: &[0.0, 0.5, 0.75, 1.0],
    a: &[&[], &[0.5], &[0.0, 0.75], &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0]],
    b: &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0],
    // b - b_hat with b_hat = (7/24, 1/4, 1/3, 1/8).
    error: Some(&[2.0 / 9.0 - 7.0 / 24.0, 1.0 / 3.0 - 0.25, 4.0 / 9.0 - 1.0 / 3.0, -0.125]),
    order: 3,
    embedded_order: Some(2),
};

/// Tsitouras 5(4) (2011), first same as last.
pub const TSIT5: ButcherTableau = ButcherTableau {
    name: "tsit5",
    c: &[0.0, 0.161, 0.327, 0.9, 0.980_025_540_904_509_7, 1.0, 1.0],
    a: &[
        &[],
        &[0.161],
        &[-0.008_480_655_492_356_989, 0.335_480_655_492_357],
        &[2.897_153_057_105_493_5, -6.359_448_489_975_075, 4.362_295_432_869_581_5],
        &[5.325_864_828_439_257, -11.748_883_564_062_828, 7.495_539_342_889_836_5, -0.092_495_066_361_755_25],
        &[
            5.861_455_442_946_42,
            -12.920_969_317_847_11,
            8.159_367_898_576_159,
            -0.071_584_973_281_401,
            -0.028_269_050_394_068_38,
        ],
        &[
            0.096_460_766_818_065_23,
            0.01,
            0.479_889_650_414_499_6,
            1.379_008_574_103_742,
            -3.290_069_515_436_081,
            2.324_710_524_099_774,
        ],
    ],
    b: &[
        0.096_460_766_818_065_23,
        0.01,
        0.479_889_650_414_499_6,
        1.379_008_574_103_742,
        -3.290_069_515_436_081,
        2.324_710_524_099_774,
        0.0,
    ],
    error: Some(&[
        -0.001_780_011_052_225_777,
        -0.000_816_434_459_656_746_9,
        0.007_880_878_010_261_995,
        -0.144_711_007_173_262_9,
        0.582_357_165_452_555_2,
        -0.458_082_105_929_187,
        1.0 / 66.0,
    ]),
    order: 5,
    embedded_order: Some(4),
};

/// Dormand-Prince 5(4), first same as last.
pub const DOPRI5: ButcherTableau = ButcherTableau {
    name: "dopri5",
    c: &[0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0],
    a: &[
        &[],
        &[0.2],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
        &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
        &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
    ],
    b: &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0],
    error: Some(&[71.0 / 57600.0, 0.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0]),
    order: 5,
    embedded_order: Some(4),
};

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// Consistency: b sums to 1, each row of a sums to its node c, error weights sum to 0.
    #[test]
    fn tableaus_are_consistent() {
        for t in ButcherTableau::ALL {
            assert_eq!(t.a.len(), t.stages(), "{}", t.name);
            assert!((t.b.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{}: sum b", t.name);
            for (i, row) in t.a.iter().enumerate() {
                assert_eq!(row.len(), i, "{}: row {i} must be strictly lower", t.name);
                assert!((row.iter().sum::<f64>() - t.c[i]).abs() < 1e-12, "{}: row {i} sums to c", t.name);
            }
            if let Some(e) = t.error {
                assert_eq!(e.len(), t.stages());
                assert!(e.iter().sum::<f64>().abs() < 1e-12, "{}: error weights sum to 0", t.name);
            }
            assert_eq!(ButcherTableau::from_name(t.name).unwrap(), t);
        }
        assert!(ButcherTableau::from_name("rk45").unwrap_err().contains("dopri5"));
    }
}
