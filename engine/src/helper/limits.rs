//! The operating system's part in containing a helper: what a helper sets on itself
//! before it reads any file, and what Quire sets on a helper it starts.
//!
//! - Linux: address space (RLIMIT_AS: what the helper holds at start plus its memory
//!   allowance), processor time per file (RLIMIT_CPU, raised before each file), no
//!   core files, no files written; the helper is the first the kernel's OOM killer
//!   picks; it exits when Quire is gone (its parent changes).
//! - macOS: the same, except that macOS does not enforce RLIMIT_AS: the helper
//!   checks its own peak resident memory every 100 ms instead.
//! - Windows: a job object holds every helper, limits each one's committed memory
//!   and kills them all when Quire's last handle to it closes, that is when Quire
//!   exits in any way. Processor time is bounded by the wall-clock timeout.
//!
//! Everywhere, Quire kills a helper that overruns the per-file wall-clock timeout.

use std::fs::File;
use std::process::Child;

/// What a helper writes to stderr before exiting because it held too much memory
/// (macOS): Quire reads it as "out of memory".
pub const MEMORY_MARKER: &str = "quire extraction helper: over its memory limit";

/// Takes the helper's stdout for the protocol and points file descriptor 1 (or the
/// standard output handle) at stderr, so that a library printing to stdout can
/// never corrupt a frame.
pub fn take_stdout() -> std::io::Result<File> {
    take_stdout_impl()
}

#[cfg(unix)]
fn take_stdout_impl() -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain descriptor calls on the process's own standard descriptors; the
    // duplicate is owned by the File from here on.
    unsafe {
        let protocol = libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 3);
        if protocol < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(File::from_raw_fd(protocol))
    }
}

#[cfg(windows)]
fn take_stdout_impl() -> std::io::Result<File> {
    use std::os::windows::io::FromRawHandle;
    use windows_sys::Win32::System::Console::{
        GetStdHandle, SetStdHandle, STD_ERROR_HANDLE, STD_OUTPUT_HANDLE,
    };
    // SAFETY: swaps the process's standard handles; the protocol handle is owned by
    // the File from here on and no longer reachable as standard output.
    unsafe {
        let protocol = GetStdHandle(STD_OUTPUT_HANDLE);
        if SetStdHandle(STD_OUTPUT_HANDLE, GetStdHandle(STD_ERROR_HANDLE)) == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(File::from_raw_handle(protocol as _))
    }
}

/// Limits the helper sets on itself once, before it reads any file.
pub fn confine_self(memory_bytes: u64) {
    #[cfg(unix)]
    {
        set_limit(libc::RLIMIT_CORE, 0);
        // A helper writes no file; anything that tries is stopped (SIGXFSZ).
        set_limit(libc::RLIMIT_FSIZE, 0);
        set_limit(
            libc::RLIMIT_AS,
            address_space_in_use().saturating_add(memory_bytes),
        );
    }
    #[cfg(target_os = "linux")]
    {
        // Under memory pressure the kernel stops a helper before Quire itself.
        let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    }
    #[cfg(not(unix))]
    let _ = memory_bytes;
}

/// Allows the next file `secs` of processor time beyond what the helper has used.
pub fn limit_cpu_for_next(secs: u64) {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills the struct it is given.
        let used = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage.ru_utime.tv_sec as u64 + usage.ru_stime.tv_sec as u64 + 1
        };
        set_limit(libc::RLIMIT_CPU, used.saturating_add(secs));
    }
    #[cfg(not(unix))]
    let _ = secs;
}

/// Ends the helper when Quire is gone, however it went (killed, crashed): a helper
/// must never outlive it. On Unix a thread watches the parent (the helper is handed
/// to another process when its parent dies); on macOS it also watches memory.
pub fn exit_with_parent(memory_bytes: u64) {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        let watch = move || loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if std::os::unix::process::parent_id() != parent {
                // SAFETY: ends the process at once, running no destructor or handler.
                unsafe { libc::_exit(3) };
            }
            #[cfg(target_os = "macos")]
            if peak_resident_bytes() > memory_bytes {
                eprintln!("{MEMORY_MARKER}");
                // SAFETY: as above.
                unsafe { libc::_exit(4) };
            }
        };
        let _ = std::thread::Builder::new()
            .name("parent-watch".into())
            .stack_size(64 * 1024)
            .spawn(watch);
    }
    // Windows: the job object kills the helper with Quire (see `contain`).
    #[cfg(not(target_os = "macos"))]
    let _ = memory_bytes;
}

/// Puts a helper Quire just started under the limits only the parent can set.
pub fn contain(child: &Child, memory_bytes: u64) -> std::io::Result<()> {
    #[cfg(windows)]
    {
        windows_job::assign(child, memory_bytes)
    }
    #[cfg(not(windows))]
    {
        let _ = (child, memory_bytes);
        Ok(())
    }
}

/// Sets the soft limit of `resource` to `value` (at most the hard limit, which stays
/// where it is: raising the soft one again for the next file needs that). A failure
/// leaves the wall-clock timeout and the caps on text as the bounds.
#[cfg(unix)]
fn set_limit(resource: LimitResource, value: u64) {
    // SAFETY: getrlimit and setrlimit read and fill the struct they are given.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(resource, &mut limit) != 0 {
            return;
        }
        let value = value as libc::rlim_t;
        limit.rlim_cur = if limit.rlim_max == libc::RLIM_INFINITY {
            value
        } else {
            value.min(limit.rlim_max)
        };
        if libc::setrlimit(resource, &limit) != 0 {
            let error = std::io::Error::last_os_error();
            eprintln!("quire extraction helper: cannot set limit {resource:?}: {error}");
        }
    }
}

#[cfg(all(unix, target_os = "linux", target_env = "gnu"))]
type LimitResource = libc::__rlimit_resource_t;
#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
type LimitResource = libc::c_int;

/// The address space the process holds now (Linux: /proc/self/statm); 0 where unknown.
#[cfg(unix)]
fn address_space_in_use() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a constant of the system.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.saturating_mul(u64::try_from(page_size).unwrap_or(4096))
}

#[cfg(target_os = "macos")]
fn peak_resident_bytes() -> u64 {
    // SAFETY: getrusage fills the struct it is given. macOS counts ru_maxrss in bytes.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss as u64
    }
}

#[cfg(windows)]
mod windows_job {
    use std::os::windows::io::AsRawHandle;
    use std::process::Child;
    use std::sync::OnceLock;

    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
        SetInformationJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOB_OBJECT_LIMIT_PROCESS_MEMORY,
    };

    /// Room for the helper program itself above the memory allowance: committed
    /// memory counts its code and data too.
    const PROGRAM_BYTES: u64 = 512 * 1024 * 1024;

    /// The one job of this process, kept open for its whole life: when the process
    /// ends, the handle closes and every helper in the job is killed.
    fn job(memory_bytes: u64) -> std::io::Result<isize> {
        static JOB: OnceLock<Result<isize, i32>> = OnceLock::new();
        let job = JOB.get_or_init(|| {
            // SAFETY: creates an unnamed job and sets its limits from a zeroed struct
            // whose flags say which fields count.
            unsafe {
                let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
                if job.is_null() {
                    return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
                }
                let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
                limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
                    | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
                    | JOB_OBJECT_LIMIT_PROCESS_MEMORY;
                limits.ProcessMemoryLimit =
                    usize::try_from(memory_bytes.saturating_add(PROGRAM_BYTES)).unwrap_or(usize::MAX);
                let ok = SetInformationJobObject(
                    job,
                    JobObjectExtendedLimitInformation,
                    std::ptr::from_ref(&limits).cast(),
                    std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                );
                if ok == 0 {
                    return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
                }
                Ok(job as isize)
            }
        });
        job.map_err(std::io::Error::from_raw_os_error)
    }

    pub fn assign(child: &Child, memory_bytes: u64) -> std::io::Result<()> {
        let job = job(memory_bytes)?;
        // SAFETY: both handles are valid: the job lives as long as the process, the
        // child's handle as long as `child`.
        if unsafe { AssignProcessToJobObject(job as _, child.as_raw_handle() as _) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
