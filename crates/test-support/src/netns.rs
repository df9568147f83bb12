//! Linux network namespaces for partition tests: one namespace per server, wired so that the
//! test can cut a server off from its peers while still talking to it from the root namespace.
//!
//! Each member `i` (0-based) of a [`NetLab`] lives in its own namespace with two links:
//! - a **peer link**: a veth pair whose outer end is a port of the lab's bridge in the root
//!   namespace (the bridge has no address, so the root namespace cannot reach the peer
//!   network). The inner end carries `198.18.S.(i+1)/24`; servers bind their quorum port there.
//!   [`NetLab::cut`] takes the outer end down: the bridge drops the member's frames in both
//!   directions, silently, like a pulled cable (established connections hang, they do not
//!   reset);
//! - a **client link**: a point-to-point veth pair `198.19.S.(4i+1)/30` (root end) to
//!   `198.19.S.(4i+2)/30` (inner end). Servers bind their client and admin ports to the inner
//!   address, and clients connect from the root namespace. A namespace has no route to another
//!   member's client link and the root namespace does not forward, so peer traffic can never
//!   detour through the client links.
//!
//! Only addresses of the benchmarking range 198.18.0.0/15 are used, and only on these links.
//! `S` is a slot (1..=250) that is unique on the machine while the lab exists: slots are
//! chosen under an exclusive lock on a file in the temp directory, by looking at which lab
//! interfaces and namespaces exist, so tests in parallel processes never collide. Names carry
//! the slot and the owning process id; a lab left behind by a killed test process (whose pid is
//! gone) is removed the next time a lab is created. Dropping a [`NetLab`] removes its
//! namespaces, links and bridge; stop the processes inside first (an [`crate::ArborEnsemble`]
//! declared after the lab is dropped before it).
//!
//! The plan (names, addresses) is pure and unit-tested; only [`NetLab`] runs `ip`.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use crate::arbor::Placement;
use crate::ensemble::MemberPlacement;
use crate::error::HarnessError;

/// Lab interfaces in the root namespace start with this; namespaces with [`NS_PREFIX`].
const LINK_PREFIX: &str = "arb";
const NS_PREFIX: &str = "arbor-s";
/// Slots are the third octet of the lab's addresses.
const FIRST_SLOT: u8 = 1;
const LAST_SLOT: u8 = 250;
/// A /30 per member on the client network: 64 members per slot at most.
const MAX_MEMBERS: usize = 63;
/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Names and addresses of one lab member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetMember {
    /// The namespace (`ip netns exec <ns> ...`).
    pub ns: String,
    /// The member's address on the peer network (bind the quorum port here).
    pub peer_addr: Ipv4Addr,
    /// The member's address on its client link (bind the client and admin ports here).
    pub client_addr: Ipv4Addr,
    /// The root end of the client link.
    pub client_gateway: Ipv4Addr,
    /// The bridge port of the member's peer link, in the root namespace.
    pub peer_port: String,
    /// The root end of the member's client link.
    pub client_port: String,
}

impl NetMember {
    /// The command prefix that runs a program inside this member's namespace.
    pub fn wrapper(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.ns]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

/// Everything a lab of `members` namespaces in slot `slot`, owned by process `pid`, consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPlan {
    pub slot: u8,
    pub bridge: String,
    pub members: Vec<NetMember>,
}

impl LabPlan {
    /// Panics if `members` exceeds what one slot's client network holds (a test bug).
    pub fn new(slot: u8, pid: u32, members: usize) -> LabPlan {
        assert!(
            (1..=MAX_MEMBERS).contains(&members),
            "a lab holds 1..={MAX_MEMBERS} members"
        );
        let members = (0..members)
            .map(|i| {
                let n = i as u8;
                NetMember {
                    ns: format!("{NS_PREFIX}{slot}-p{pid}-{i}"),
                    peer_addr: Ipv4Addr::new(198, 18, slot, n + 1),
                    client_addr: Ipv4Addr::new(198, 19, slot, 4 * n + 2),
                    client_gateway: Ipv4Addr::new(198, 19, slot, 4 * n + 1),
                    peer_port: format!("{LINK_PREFIX}{slot}p{i}"),
                    client_port: format!("{LINK_PREFIX}{slot}c{i}"),
                }
            })
            .collect();
        LabPlan {
            slot,
            bridge: format!("{LINK_PREFIX}{slot}br"),
            members,
        }
    }
}

/// The slot a lab interface name (`arb<slot>br`, `arb<slot>p<i>`, `arb<slot>c<i>`) belongs to.
fn slot_of_link(name: &str) -> Option<u8> {
    let rest = name.strip_prefix(LINK_PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let tail = &rest[digits.len()..];
    let valid_tail = tail == "br"
        || ((tail.starts_with('p') || tail.starts_with('c'))
            && tail.len() > 1
            && tail[1..].chars().all(|c| c.is_ascii_digit()));
    if !valid_tail {
        return None;
    }
    digits.parse().ok()
}

/// `(slot, owner pid)` of a lab namespace name (`arbor-s<slot>-p<pid>-<i>`).
fn parse_ns_name(name: &str) -> Option<(u8, u32)> {
    let rest = name.strip_prefix(NS_PREFIX)?;
    let (slot, rest) = rest.split_once("-p")?;
    let (pid, index) = rest.split_once('-')?;
    index.parse::<usize>().ok()?;
    Some((slot.parse().ok()?, pid.parse().ok()?))
}

/// The lowest slot no existing interface or namespace uses.
fn free_slot<'a>(links: impl IntoIterator<Item = &'a str>, namespaces: &[String]) -> Option<u8> {
    let used: BTreeSet<u8> = links
        .into_iter()
        .filter_map(slot_of_link)
        .chain(
            namespaces
                .iter()
                .filter_map(|ns| parse_ns_name(ns).map(|(s, _)| s)),
        )
        .collect();
    (FIRST_SLOT..=LAST_SLOT).find(|s| !used.contains(s))
}

/// Why network-namespace tests cannot run here, or `None` if they can (root, and `ip netns`
/// works). Tests print the reason and skip.
pub fn netns_unavailable() -> Option<String> {
    let euid = effective_uid();
    if euid != Some(0) {
        let euid = euid.map_or("unknown".to_owned(), |u| u.to_string());
        return Some(format!(
            "network-namespace tests need root (running as uid {euid})"
        ));
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`ip netns list` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!(
            "`ip` (iproute2) is not available: {e}; install iproute2"
        )),
    }
}

/// The effective uid, from `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

fn parse_effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Serializes lab creation and removal between processes: a slot is chosen by looking at what
/// exists, so nothing may be created or removed meanwhile.
fn lock_labs() -> Result<File, HarnessError> {
    let path = std::env::temp_dir().join("arbor-test-netns.lock");
    let lock = File::create(&path).map_err(HarnessError::io(format!("open {}", path.display())))?;
    lock.lock()
        .map_err(HarnessError::io("lock the netns slot file"))?;
    Ok(lock)
}

/// Runs `ip <args>`; the error carries the command and its stderr.
fn ip(args: &[&str]) -> Result<(), HarnessError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(HarnessError::io("run ip"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(HarnessError::CommandFailed {
        what: format!("ip {}", args.join(" ")),
        status: out.status.to_string(),
        output: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Names of the interfaces in the root namespace.
fn root_links() -> Result<Vec<String>, HarnessError> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .map_err(HarnessError::io("run ip link show"))?;
    // Lines look like `7: arb3p0@if6: <...`.
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect())
}

fn named_namespaces() -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes labs whose owning process is gone (a test killed before its drop ran).
fn remove_stale_labs() {
    let namespaces = named_namespaces();
    let mut stale_slots = BTreeSet::new();
    for ns in &namespaces {
        if let Some((slot, pid)) = parse_ns_name(ns) {
            if !crate::process::pid_alive(pid) {
                let _ = ip(&["netns", "del", ns]);
                stale_slots.insert(slot);
            }
        }
    }
    let live_slots: BTreeSet<u8> = named_namespaces()
        .iter()
        .filter_map(|ns| parse_ns_name(ns).map(|(s, _)| s))
        .collect();
    for link in root_links().unwrap_or_default() {
        if let Some(slot) = slot_of_link(&link) {
            // Interfaces of a slot with no namespace left belong to nobody.
            if stale_slots.contains(&slot) || !live_slots.contains(&slot) {
                let _ = ip(&["link", "del", &link]);
            }
        }
    }
}

/// A set of network namespaces wired as the module docs describe. Dropping it removes them.
pub struct NetLab {
    plan: LabPlan,
}

impl NetLab {
    /// Creates `members` namespaces with their links; the error says which `ip` command failed
    /// (whatever was created is removed again).
    pub fn create(members: usize) -> Result<NetLab, HarnessError> {
        let lock = lock_labs()?;
        remove_stale_labs();
        let links = root_links()?;
        let slot =
            free_slot(links.iter().map(String::as_str), &named_namespaces()).ok_or_else(|| {
                HarnessError::BadResponse {
                    what: "network lab".into(),
                    detail: "every slot is in use".into(),
                }
            })?;
        let lab = NetLab {
            plan: LabPlan::new(slot, std::process::id(), members),
        };
        let built = lab.build();
        // Released before `lab` may be dropped on error: its drop takes the lock itself.
        drop(lock);
        built.map(|()| lab)
    }

    fn build(&self) -> Result<(), HarnessError> {
        let bridge = &self.plan.bridge;
        ip(&["link", "add", bridge, "type", "bridge"])?;
        ip(&["link", "set", bridge, "addrgenmode", "none"])?;
        ip(&["link", "set", bridge, "up"])?;
        for m in &self.plan.members {
            let ns = m.ns.as_str();
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            // Peer link: inner end `peer0`, outer end a bridge port.
            ip(&[
                "link",
                "add",
                &m.peer_port,
                "type",
                "veth",
                "peer",
                "name",
                "peer0",
                "netns",
                ns,
            ])?;
            ip(&["link", "set", &m.peer_port, "addrgenmode", "none"])?;
            ip(&["link", "set", &m.peer_port, "master", bridge, "up"])?;
            ip(&["-n", ns, "link", "set", "peer0", "addrgenmode", "none"])?;
            let peer_cidr = format!("{}/24", m.peer_addr);
            ip(&["-n", ns, "addr", "add", &peer_cidr, "dev", "peer0"])?;
            ip(&["-n", ns, "link", "set", "peer0", "up"])?;
            // Client link: point to point with the root namespace.
            ip(&[
                "link",
                "add",
                &m.client_port,
                "type",
                "veth",
                "peer",
                "name",
                "client0",
                "netns",
                ns,
            ])?;
            ip(&["link", "set", &m.client_port, "addrgenmode", "none"])?;
            let gateway_cidr = format!("{}/30", m.client_gateway);
            ip(&["addr", "add", &gateway_cidr, "dev", &m.client_port])?;
            ip(&["link", "set", &m.client_port, "up"])?;
            ip(&["-n", ns, "link", "set", "client0", "addrgenmode", "none"])?;
            let client_cidr = format!("{}/30", m.client_addr);
            ip(&["-n", ns, "addr", "add", &client_cidr, "dev", "client0"])?;
            ip(&["-n", ns, "link", "set", "client0", "up"])?;
        }
        Ok(())
    }

    pub fn plan(&self) -> &LabPlan {
        &self.plan
    }

    /// Member `i` (0-based).
    pub fn member(&self, i: usize) -> &NetMember {
        &self.plan.members[i]
    }

    pub fn len(&self) -> usize {
        self.plan.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plan.members.is_empty()
    }

    /// Ensemble placements: member `i` in namespace `i`, its quorum port on the peer network,
    /// its client and admin ports on its client link (see [`crate::ArborEnsemble::try_start_placed`]).
    pub fn placements(&self) -> Vec<MemberPlacement> {
        self.plan
            .members
            .iter()
            .map(|m| MemberPlacement {
                client: Placement {
                    host: IpAddr::V4(m.client_addr),
                    wrapper: m.wrapper(),
                },
                peer_host: Some(IpAddr::V4(m.peer_addr)),
            })
            .collect()
    }

    /// Cuts member `i` off from every peer (its bridge port goes down); its client link stays.
    pub fn cut(&self, i: usize) {
        let port = &self.plan.members[i].peer_port;
        ip(&["link", "set", port, "down"]).unwrap_or_else(|e| panic!("cut member {i}: {e}"));
    }

    /// Reconnects member `i` to its peers.
    pub fn heal(&self, i: usize) {
        let port = &self.plan.members[i].peer_port;
        ip(&["link", "set", port, "up"]).unwrap_or_else(|e| panic!("heal member {i}: {e}"));
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth pairs inside it, and with them their outer
        // ends; the bridge goes last. Errors mean "already gone".
        let _lock = lock_labs();
        for m in &self.plan.members {
            let _ = ip(&["netns", "del", &m.ns]);
            let _ = ip(&["link", "del", &m.peer_port]);
            let _ = ip(&["link", "del", &m.client_port]);
        }
        let _ = ip(&["link", "del", &self.plan.bridge]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_fit_interface_limits_and_addresses_stay_in_the_benchmark_range() {
        let plan = LabPlan::new(250, 4_194_304, MAX_MEMBERS);
        assert_eq!(plan.bridge, "arb250br");
        for (i, m) in plan.members.iter().enumerate() {
            // Linux interface names are at most 15 bytes.
            assert!(
                m.peer_port.len() <= 15 && m.client_port.len() <= 15,
                "{m:?}"
            );
            for addr in [m.peer_addr, m.client_addr, m.client_gateway] {
                let [a, b, ..] = addr.octets();
                assert!(
                    a == 198 && (b == 18 || b == 19),
                    "{addr} outside 198.18.0.0/15"
                );
            }
            assert_eq!(m.peer_addr, Ipv4Addr::new(198, 18, 250, i as u8 + 1));
            // Both ends of a /30, neither the network nor the broadcast address.
            let last = m.client_addr.octets()[3];
            assert_eq!(last % 4, 2);
            assert_eq!(m.client_gateway.octets()[3], last - 1);
            assert_eq!(parse_ns_name(&m.ns), Some((250, 4_194_304)));
            assert_eq!(slot_of_link(&m.peer_port), Some(250));
            assert_eq!(slot_of_link(&m.client_port), Some(250));
        }
        assert_eq!(slot_of_link(&plan.bridge), Some(250));
        assert_eq!(
            plan.members[2].wrapper(),
            ["ip", "netns", "exec", "arbor-s250-p4194304-2"]
        );
    }

    #[test]
    fn names_of_other_interfaces_and_namespaces_are_not_ours() {
        for name in [
            "lo", "eth0", "arb", "arbx", "arb3", "arb3q0", "arb3p", "arb3brx", "arbor0",
        ] {
            assert_eq!(slot_of_link(name), None, "{name}");
        }
        for name in [
            "arbor-s3",
            "arbor-s3-p12",
            "arbor-sx-p1-0",
            "other",
            "arbor-s3-p1-x",
        ] {
            assert_eq!(parse_ns_name(name), None, "{name}");
        }
    }

    #[test]
    fn free_slot_skips_slots_in_use_by_links_or_namespaces() {
        assert_eq!(free_slot(["lo", "eth0"], &[]), Some(1));
        assert_eq!(
            free_slot(["arb1br", "arb2c0"], &["arbor-s3-p9-0".to_owned()]),
            Some(4)
        );
        let all: Vec<String> = (1..=250).map(|s| format!("arb{s}br")).collect();
        assert_eq!(free_slot(all.iter().map(String::as_str), &[]), None);
    }

    #[test]
    fn effective_uid_is_the_second_uid_field() {
        let status = "Name:\tcat\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tcat\n"), None);
        assert!(effective_uid().is_some());
    }

    #[test]
    #[should_panic(expected = "a lab holds")]
    fn a_lab_larger_than_a_slot_is_a_test_bug() {
        LabPlan::new(1, 1, MAX_MEMBERS + 1);
    }
}

/// Real namespaces (root only): the wiring does what the module docs promise.
#[cfg(test)]
mod lab_tests {
    use super::*;
    use std::net::{SocketAddr, TcpStream};
    use std::process::{Child, Stdio};

    use std::time::Duration;

    /// Kills the process when dropped (also when an assertion fails).
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            crate::process::kill_and_reap(&mut self.0);
        }
    }

    /// A TCP listener in `ns` on `addr` that answers every connection with "ok".
    fn listen_in(member: &NetMember, addr: Ipv4Addr, port: u16) -> Reaped {
        let mut command = Command::new(&member.wrapper()[0]);
        command
            .args(&member.wrapper()[1..])
            .args(["python3", "-c"])
            .arg(
                "import socket,sys\n\
                 s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                 s.bind((sys.argv[1], int(sys.argv[2]))); s.listen()\n\
                 print('listening', flush=True)\n\
                 while True:\n    c,_=s.accept(); c.sendall(b'ok'); c.close()\n",
            )
            .arg(addr.to_string())
            .arg(port.to_string())
            .stdout(Stdio::piped());
        let mut child = Reaped(command.spawn().expect("spawn listener"));
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.0.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("listener output");
        assert_eq!(line.trim(), "listening");
        child
    }

    /// Whether a connection from `from`'s namespace to `addr:port` gets "ok" within 1 s.
    fn reachable_from(from: &NetMember, addr: Ipv4Addr, port: u16) -> bool {
        let out = Command::new(&from.wrapper()[0])
            .args(&from.wrapper()[1..])
            .args(["python3", "-c"])
            .arg(
                "import socket,sys\n\
                 try:\n    c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1); print(c.recv(2).decode())\n\
                 except OSError as e:\n    print('failed', e)\n",
            )
            .arg(addr.to_string())
            .arg(port.to_string())
            .output()
            .expect("run client");
        String::from_utf8_lossy(&out.stdout).trim() == "ok"
    }

    fn reachable_from_root(addr: Ipv4Addr, port: u16) -> bool {
        let addr = SocketAddr::from((addr, port));
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    }

    #[test]
    fn cut_isolates_a_member_from_its_peers_but_not_from_clients_and_drop_cleans_up() {
        if let Some(reason) = netns_unavailable() {
            eprintln!("SKIPPED: {reason}");
            return;
        }
        let lab = NetLab::create(2).expect("create lab");
        let (a, b) = (lab.member(0).clone(), lab.member(1).clone());
        let peer_listener = listen_in(&b, b.peer_addr, 7000);
        let client_listener = listen_in(&b, b.client_addr, 7001);

        assert!(
            reachable_from(&a, b.peer_addr, 7000),
            "peers reach each other"
        );
        assert!(
            reachable_from_root(b.client_addr, 7001),
            "clients reach members"
        );
        // A member cannot reach another member's client link (no detour around a cut). The
        // root namespace is never asked for the peer network: it has no route there but its
        // default one, and test traffic must not leave the machine.
        assert!(!reachable_from(&a, b.client_addr, 7001));

        lab.cut(1);
        assert!(
            !reachable_from(&a, b.peer_addr, 7000),
            "cut member is unreachable"
        );
        assert!(
            reachable_from_root(b.client_addr, 7001),
            "its client link stays up"
        );
        lab.heal(1);
        let healed = (0..20).any(|_| {
            reachable_from(&a, b.peer_addr, 7000) || {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        });
        assert!(healed, "healed member is reachable again");

        drop((peer_listener, client_listener));
        let plan = lab.plan().clone();
        drop(lab);
        let namespaces = named_namespaces();
        let links = root_links().expect("links");
        for m in &plan.members {
            assert!(!namespaces.contains(&m.ns), "{} left behind", m.ns);
            assert!(!links.contains(&m.peer_port) && !links.contains(&m.client_port));
        }
        assert!(!links.contains(&plan.bridge));
    }
}
