//! The exit codes scripts rely on, in one place: `--help` and the README
//! print [`EXIT_CODES_HELP`], errors map to an [`Exit`] through
//! [`crate::error::Error::exit`].

/// What the process tells its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// The command line (or a file it names) cannot be carried out as given,
    /// or the server refused the request as invalid.
    Usage = 1,
    /// The device, model, profile or operation does not exist.
    NotFound = 2,
    /// The device answered with an error code (4.xx or 5.xx).
    DeviceError = 3,
    /// The server or the device could not be reached, timed out, or failed
    /// on its side.
    Unavailable = 4,
    /// A bulk command partly failed: some rows or files did (see the report).
    Partial = 5,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit code of a failed gRPC call.
    pub fn of_status(code: tonic::Code) -> Exit {
        use tonic::Code;
        match code {
            Code::Ok => Exit::Ok,
            Code::NotFound => Exit::NotFound,
            // The request itself is wrong: fixing the command line fixes it.
            Code::InvalidArgument
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::OutOfRange
            | Code::Aborted
            | Code::Unimplemented => Exit::Usage,
            // Trying again later may succeed.
            Code::DeadlineExceeded
            | Code::Unavailable
            | Code::ResourceExhausted
            | Code::Cancelled
            | Code::Internal
            | Code::Unknown
            | Code::DataLoss => Exit::Unavailable,
        }
    }
}

/// The table printed at the end of `lwm2mctl --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  usage error: bad arguments or file, or the server refused the request as invalid
  2  not found: unknown device, endpoint, model, profile or operation
  3  the device answered an error (4.xx or 5.xx)
  4  timeout, or the server or device is unavailable
  5  partial failure: some rows or files failed (see the report)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_what_a_script_can_act_on() {
        assert_eq!(Exit::of_status(tonic::Code::NotFound), Exit::NotFound);
        assert_eq!(Exit::of_status(tonic::Code::InvalidArgument), Exit::Usage);
        assert_eq!(
            Exit::of_status(tonic::Code::DeadlineExceeded),
            Exit::Unavailable
        );
        assert_eq!(Exit::of_status(tonic::Code::Unavailable), Exit::Unavailable);
    }

    #[test]
    fn the_help_text_lists_every_code() {
        for exit in [
            Exit::Ok,
            Exit::Usage,
            Exit::NotFound,
            Exit::DeviceError,
            Exit::Unavailable,
            Exit::Partial,
        ] {
            let line = format!("\n  {}  ", exit.code());
            assert!(EXIT_CODES_HELP.contains(&line), "{exit:?}");
        }
    }
}
