#![deny(warnings)]
use metrics_core::record_execution_time;

#[derive(Debug)]
enum AppError {
    Parse(std::num::ParseIntError),
    Negative,
}

impl From<std::num::ParseIntError> for AppError {
    fn from(e: std::num::ParseIntError) -> Self {
        AppError::Parse(e)
    }
}

#[record_execution_time]
fn parse_positive(s: &str) -> Result<i64, AppError> {
    let n: i64 = s.trim().parse()?;
    if n < 0 {
        return Err(AppError::Negative);
    }
    Ok(n)
}

#[record_execution_time]
fn boxed(s: &str) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    if s.is_empty() {
        return Err("empty".into());
    }
    Ok(s.parse()?)
}

#[record_execution_time]
fn first_char(s: &str) -> Option<char> {
    let c = s.chars().next()?;
    Some(c.to_ascii_uppercase())
}

#[record_execution_time]
fn loop_return(xs: &[u32]) -> u32 {
    for x in xs {
        if *x > 10 {
            return *x;
        }
    }
    0
}

fn main() {
    assert!(matches!(parse_positive("-1"), Err(AppError::Negative)));
    assert!(matches!(parse_positive("x"), Err(AppError::Parse(_))));
    assert!(boxed("").is_err());
    assert_eq!(first_char("ab"), Some('A'));
    assert_eq!(loop_return(&[1, 20]), 20);
}
