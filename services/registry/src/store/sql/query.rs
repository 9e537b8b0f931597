//! Statements assembled at run time with numbered parameters.
//!
//! sqlx's `QueryBuilder` writes `?` placeholders for the `Any` driver, which
//! PostgreSQL does not accept; this builder writes `$1, $2, …`, which both
//! PostgreSQL and SQLite do.

use std::fmt::Write;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

/// A value bound to a parameter.
#[derive(Clone, Debug)]
pub(super) enum Arg {
    Int(i64),
    Text(String),
    NullableText(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::NullableText(v)
    }
}

#[derive(Debug, Default)]
pub(super) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends the next `$n` and binds `value` to it.
    pub fn bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.args.push(value.into());
        let _ = write!(self.text, "${}", self.args.len());
        self
    }

    /// `$a, $b, …` for each value (an `IN (…)` list).
    pub fn bind_list<T: Into<Arg>>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(value);
        }
        self
    }

    /// Appends the `VALUES (…)` tuple of `other` (an `INSERT … VALUES (…)`
    /// of the same table and columns) as one more row of this INSERT,
    /// renumbering its parameters.
    pub fn append_values(&mut self, other: Sql) {
        let Some(start) = other.text.find("VALUES (") else {
            return;
        };
        let tuple = other
            .text
            .get(start + "VALUES ".len()..)
            .unwrap_or_default();
        let offset = self.args.len();
        let mut renumbered = String::with_capacity(tuple.len() + 8);
        let mut chars = tuple.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                renumbered.push(c);
                continue;
            }
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            let n: usize = digits.parse().unwrap_or(0);
            let _ = write!(renumbered, "${}", n + offset);
        }
        self.text.push_str(", ");
        self.text.push_str(&renumbered);
        self.args.extend(other.args);
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut query = sqlx::query(&self.text);
        for arg in &self.args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.as_str()),
                Arg::NullableText(v) => query.bind(v.as_deref()),
            };
        }
        query
    }

    #[cfg(test)]
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_append_with_renumbered_parameters() {
        let row = |a: i64, b: &str| {
            let mut sql = Sql::new("INSERT INTO t (a, b) VALUES (");
            sql.bind(a).push(", ").bind(b).push(")");
            sql
        };
        let mut sql = row(1, "x");
        sql.append_values(row(2, "y"));
        sql.append_values(row(3, "z"));
        assert_eq!(
            sql.text(),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)"
        );
        assert_eq!(sql.args.len(), 6);
    }

    #[test]
    fn parameters_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT 1 WHERE a = ");
        sql.bind(1i64)
            .push(" AND b IN (")
            .bind_list(["x", "y"])
            .push(")");
        assert_eq!(sql.text(), "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
    }
}
