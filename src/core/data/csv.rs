//! Points from a CSV file: `x,y` per line, an optional header line, nothing else.
//! Errors name the line and the problem, so a user can fix the file.

use super::Point;

/// The most rows we accept; a larger file is almost certainly not a toy data set.
pub const MAX_ROWS: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// 1-based line number, or 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for CsvError {}

fn error(line: usize, message: impl Into<String>) -> CsvError {
    CsvError { line, message: message.into() }
}

/// Parses `x,y` rows. The first line may be a header (two fields that are not numbers);
/// blank lines are skipped; anything else that is not two finite numbers is an error.
pub fn parse_points(text: &str) -> Result<Vec<Point>, CsvError> {
    let mut points = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 2 {
            return Err(error(
                line_number,
                format!("expected 2 columns (x,y), found {}: \"{}\"", fields.len(), clip(line)),
            ));
        }
        let parsed: Vec<Result<f64, _>> = fields.iter().map(|f| f.parse::<f64>()).collect();
        let is_first_row = points.is_empty() && text.lines().take(index).all(|l| l.trim().is_empty());
        if is_first_row && parsed.iter().all(|p| p.is_err()) {
            continue; // a header such as "x,y"
        }
        let mut point = [0.0; 2];
        for (d, (field, value)) in fields.iter().zip(parsed).enumerate() {
            let value = value.map_err(|_| error(line_number, format!("\"{}\" is not a number", clip(field))))?;
            if !value.is_finite() {
                return Err(error(line_number, format!("{} is not finite: {field}", ["x", "y"][d])));
            }
            point[d] = value;
        }
        if points.len() == MAX_ROWS {
            return Err(error(line_number, format!("more than {MAX_ROWS} rows: use a smaller sample")));
        }
        points.push(point);
    }
    if points.is_empty() {
        return Err(error(0, "the file has no data rows: expected lines of x,y"));
    }
    Ok(points)
}

fn clip(text: &str) -> String {
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn reads_rows_with_or_without_a_header() {
        assert_eq!(parse_points("x,y\n1,2\n-3.5, 4e-1\n").unwrap(), vec![[1.0, 2.0], [-3.5, 0.4]]);
        assert_eq!(parse_points("1,2\n\n3,4").unwrap(), vec![[1.0, 2.0], [3.0, 4.0]]);
    }

    #[test]
    fn bad_files_name_the_line_and_the_problem() {
        let cases = [
            ("", 0, "no data rows"),
            ("x,y\n", 0, "no data rows"),
            ("1,2\n3\n", 2, "expected 2 columns"),
            ("1,2,3\n", 1, "expected 2 columns"),
            ("1,2\nfoo,3\n", 2, "\"foo\" is not a number"),
            ("1,2\nNaN,3\n", 2, "x is not finite"),
            ("1,inf\n", 1, "y is not finite"),
            ("x,y\n1,2\nx,y\n", 3, "not a number"),
        ];
        for (text, line, message) in cases {
            let err = parse_points(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(message), "{text:?}: {err}");
        }
    }

    #[test]
    fn too_many_rows_are_refused() {
        let text = "0,0\n".repeat(MAX_ROWS + 1);
        let err = parse_points(&text).unwrap_err();
        assert_eq!(err.line, MAX_ROWS + 1);
        assert!(err.message.contains("more than"));
    }
}
