//! `owner: user[:group]` resolved to ids (names through the system's user database).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Owner {
    pub fn apply(&self, file: &File) -> std::io::Result<()> {
        // -1 (as u32::MAX) leaves that id unchanged.
        let uid = self.uid.unwrap_or(u32::MAX);
        let gid = self.gid.unwrap_or(u32::MAX);
        // SAFETY: a plain syscall on a descriptor we own.
        let result = unsafe { libc::fchown(file.as_raw_fd(), uid, gid) };
        if result == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// `user`, `user:group`, `:group`-less numeric forms like `1000:1000`.
pub fn resolve_owner(text: &str) -> Result<Owner, String> {
    let (user, group) = match text.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (text, None),
    };
    let uid = Some(match user.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => user_id(user).ok_or_else(|| format!("unknown user `{user}`"))?,
    });
    let gid = match group {
        None => None,
        Some(group) => Some(match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_id(group).ok_or_else(|| format!("unknown group `{group}`"))?,
        }),
    };
    Ok(Owner { uid, gid })
}

fn user_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut record: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; the result points into `record`.
    let status = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut record,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (status == 0 && !found.is_null()).then_some(record.pw_uid)
}

fn group_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut record: libc::group = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `user_id`.
    let status = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut record,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (status == 0 && !found.is_null()).then_some(record.gr_gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(
            resolve_owner("root"),
            Ok(Owner {
                uid: Some(0),
                gid: None
            })
        );
        assert_eq!(
            resolve_owner("root:root"),
            Ok(Owner {
                uid: Some(0),
                gid: Some(0)
            })
        );
        assert_eq!(
            resolve_owner("1000:50"),
            Ok(Owner {
                uid: Some(1000),
                gid: Some(50)
            })
        );
        assert!(resolve_owner("no-such-user-arbor").is_err());
        assert!(resolve_owner("root:no-such-group-arbor").is_err());
    }
}
