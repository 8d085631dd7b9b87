//! FAT volume geometry: reading it from a boot sector, and formatting a blank device.
//!
//! Job: the vfs formats `/data` itself rather than with hadris-fat's formatter, which refuses
//! volumes under 512 KiB — and the STM32F4's flash device is 16 KiB (32 blocks). The layout
//! is the classic one every FAT driver reads: one reserved (boot) sector, two FATs, a fixed
//! root directory, then the data clusters. [`Geometry`] also gives the service what hadris
//! keeps private (where cluster N lives, how many clusters there are) for `statfs` and
//! in-place overwrites.
//!
//! Invariants:
//! - The FAT type follows only from the cluster count (< 4085: FAT12, < 65525: FAT16), as
//!   the specification and every reader decide it; [`plan`] sizes the FATs for that type.
//! - [`format`] zeroes both FATs and the whole root directory (a blank device may hold
//!   anything, e.g. erased flash reads 0xFF), then writes the boot sector last.
//! - Sizes that do not fit are errors (`NoSpace` for a device too small to hold a volume,
//!   `Unsupported` for a block size FAT cannot use); nothing here panics on any input.

use zb_abi::Error;

use crate::dev::BlockCache;

/// The FAT variant of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatKind {
    Fat12,
    Fat16,
    Fat32,
}

impl FatKind {
    /// As `mount` shows it.
    pub fn name(self) -> &'static str {
        match self {
            FatKind::Fat12 => "fat12",
            FatKind::Fat16 => "fat16",
            FatKind::Fat32 => "fat32",
        }
    }
}

/// Where things are on a FAT volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub bytes_per_sector: u32,
    pub sectors_per_cluster: u32,
    pub reserved_sectors: u32,
    pub fats: u32,
    pub root_entries: u32,
    pub total_sectors: u32,
    pub sectors_per_fat: u32,
    pub kind: FatKind,
}

const SECTOR_SIZES: [u32; 4] = [512, 1024, 2048, 4096];
const FAT12_MAX_CLUSTERS: u32 = 4084;
const FAT16_MAX_CLUSTERS: u32 = 65524;
/// Clusters the formatter aims for at most: small FATs keep allocation scans and `statfs`
/// cheap (a 16 MiB disk gets 1 KiB clusters and a 32 KiB FAT).
const TARGET_CLUSTERS: u32 = 16384;
/// Volumes under this size get a 2-sector root directory instead of 512 entries.
const SMALL_VOLUME: u64 = 1024 * 1024;
/// The smallest volume worth formatting (boot sector, FATs, root, a few clusters).
const MIN_SECTORS: u32 = 16;

impl Geometry {
    pub fn root_dir_sectors(&self) -> u32 {
        (self.root_entries * 32).div_ceil(self.bytes_per_sector)
    }

    pub fn first_data_sector(&self) -> u32 {
        self.reserved_sectors + self.fats * self.sectors_per_fat + self.root_dir_sectors()
    }

    /// Data clusters (numbered 2 ..= clusters + 1).
    pub fn clusters(&self) -> u32 {
        self.total_sectors.saturating_sub(self.first_data_sector()) / self.sectors_per_cluster
    }

    pub fn cluster_size(&self) -> u64 {
        u64::from(self.sectors_per_cluster) * u64::from(self.bytes_per_sector)
    }

    /// Byte offset of the first FAT.
    pub fn fat_start(&self) -> u64 {
        u64::from(self.reserved_sectors) * u64::from(self.bytes_per_sector)
    }

    /// Byte offset of data cluster `cluster` (≥ 2).
    pub fn cluster_offset(&self, cluster: u32) -> u64 {
        (u64::from(self.first_data_sector())
            + u64::from(cluster.saturating_sub(2)) * u64::from(self.sectors_per_cluster))
            * u64::from(self.bytes_per_sector)
    }

    /// The data area in bytes (what `statfs` calls the total).
    pub fn data_bytes(&self) -> u64 {
        u64::from(self.clusters()) * self.cluster_size()
    }

    /// Reads the geometry from a boot sector; `None` if it is not a FAT boot sector this
    /// can make sense of.
    pub fn parse(boot: &[u8]) -> Option<Geometry> {
        if !has_boot_signature(boot) {
            return None;
        }
        let u16_at = |i: usize| u32::from(u16::from_le_bytes([boot[i], boot[i + 1]]));
        let u32_at =
            |i: usize| u32::from_le_bytes([boot[i], boot[i + 1], boot[i + 2], boot[i + 3]]);
        let bytes_per_sector = u16_at(11);
        let sectors_per_cluster = u32::from(boot[13]);
        let reserved_sectors = u16_at(14);
        let fats = u32::from(boot[16]);
        let root_entries = u16_at(17);
        let total_sectors = match u16_at(19) {
            0 => u32_at(32),
            n => n,
        };
        let fat32 = root_entries == 0 && u16_at(22) == 0;
        let sectors_per_fat = if fat32 { u32_at(36) } else { u16_at(22) };
        let sane = SECTOR_SIZES.contains(&bytes_per_sector)
            && sectors_per_cluster.is_power_of_two()
            && sectors_per_cluster <= 128
            && reserved_sectors >= 1
            && (1..=2).contains(&fats)
            && sectors_per_fat >= 1
            && total_sectors > 0;
        if !sane {
            return None;
        }
        let mut g = Geometry {
            bytes_per_sector,
            sectors_per_cluster,
            reserved_sectors,
            fats,
            root_entries,
            total_sectors,
            sectors_per_fat,
            kind: FatKind::Fat32,
        };
        // Overflowing layouts are not volumes.
        u32::checked_add(reserved_sectors, fats.checked_mul(sectors_per_fat)?)?
            .checked_add(g.root_dir_sectors())?;
        let clusters = g.clusters();
        g.kind = if fat32 {
            FatKind::Fat32
        } else if clusters <= FAT12_MAX_CLUSTERS {
            FatKind::Fat12
        } else {
            FatKind::Fat16
        };
        Some(g)
    }
}

/// Whether a boot sector ends in the 0x55 0xAA signature (a blank device does not).
pub fn has_boot_signature(boot: &[u8]) -> bool {
    boot.len() >= 512 && boot[510] == 0x55 && boot[511] == 0xAA
}

/// The layout [`format`] gives a device of `blocks` blocks of `block_size` bytes: FAT12 or
/// FAT16, by the cluster count that fits (at most 2 GiB are used of a larger device).
pub fn plan(blocks: u64, block_size: u32) -> Result<Geometry, Error> {
    if !SECTOR_SIZES.contains(&block_size) {
        return Err(Error::Unsupported);
    }
    let max_spc = 32 * 1024 / block_size;
    // Beyond what FAT16 can address with its largest clusters, the rest stays unused.
    let cap = u64::from(FAT16_MAX_CLUSTERS) * u64::from(max_spc);
    let total = u32::try_from(blocks.min(cap)).map_err(|_| Error::Unsupported)?;
    if total < MIN_SECTORS {
        return Err(Error::NoSpace);
    }
    let bytes = u64::from(total) * u64::from(block_size);
    let root_entries = if bytes < SMALL_VOLUME {
        2 * block_size / 32
    } else {
        512
    };
    let mut fallback = None;
    let mut spc = 1;
    while spc <= max_spc {
        if let Some(g) = layout(total, block_size, spc, root_entries) {
            if g.clusters() <= TARGET_CLUSTERS {
                return Ok(g);
            }
            if g.clusters() <= FAT16_MAX_CLUSTERS && fallback.is_none() {
                fallback = Some(g);
            }
        }
        spc *= 2;
    }
    fallback.ok_or(Error::NoSpace)
}

/// The geometry with `spc` sectors per cluster, FATs sized for the cluster count that is
/// left; `None` if no cluster fits.
fn layout(total: u32, bps: u32, spc: u32, root_entries: u32) -> Option<Geometry> {
    let mut g = Geometry {
        bytes_per_sector: bps,
        sectors_per_cluster: spc,
        reserved_sectors: 1,
        fats: 2,
        root_entries,
        total_sectors: total,
        sectors_per_fat: 1,
        kind: FatKind::Fat12,
    };
    // Each round only grows the FATs, so the cluster count only shrinks: this ends.
    loop {
        if g.first_data_sector() >= total {
            return None;
        }
        let clusters = g.clusters();
        if clusters == 0 {
            return None;
        }
        let bits: u64 = if clusters <= FAT12_MAX_CLUSTERS {
            12
        } else {
            16
        };
        let need = ((u64::from(clusters) + 2) * bits)
            .div_ceil(8)
            .div_ceil(u64::from(bps));
        let need = u32::try_from(need).ok()?;
        if need <= g.sectors_per_fat {
            g.kind = if clusters <= FAT12_MAX_CLUSTERS {
                FatKind::Fat12
            } else {
                FatKind::Fat16
            };
            return Some(g);
        }
        g.sectors_per_fat = need;
    }
}

/// Formats the device behind `cache` with `g` (from [`plan`]) and flushes it.
pub fn format(cache: &mut BlockCache, g: &Geometry, volume_id: u32) -> Result<(), Error> {
    let bps = g.bytes_per_sector as usize;
    let mut sector = alloc::vec::Vec::new();
    sector
        .try_reserve_exact(bps)
        .map_err(|_| Error::OutOfMemory)?;
    sector.resize(bps, 0);
    // Both FATs and the root directory, zeroed, with the two reserved FAT entries.
    let first = u64::from(g.reserved_sectors);
    let last = u64::from(g.first_data_sector());
    for lba in first..last {
        sector.fill(0);
        let fat_sector = (lba - first) % u64::from(g.sectors_per_fat) == 0
            && lba < first + u64::from(g.fats * g.sectors_per_fat);
        if fat_sector {
            // Entry 0 holds the media byte (0xF8: fixed disk), entry 1 end-of-chain.
            match g.kind {
                FatKind::Fat12 => sector[..3].copy_from_slice(&[0xF8, 0xFF, 0xFF]),
                _ => sector[..4].copy_from_slice(&[0xF8, 0xFF, 0xFF, 0xFF]),
            }
        }
        cache.write_at(lba * bps as u64, &sector)?;
    }
    sector.fill(0);
    boot_sector(g, volume_id, &mut sector);
    cache.write_at(0, &sector)?;
    cache.flush()
}

/// Writes a FAT12/16 boot sector for `g` into `out` (one sector, zeroed by the caller).
fn boot_sector(g: &Geometry, volume_id: u32, out: &mut [u8]) {
    out[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    out[3..11].copy_from_slice(b"ZEROBUS ");
    out[11..13].copy_from_slice(&(g.bytes_per_sector as u16).to_le_bytes());
    out[13] = g.sectors_per_cluster as u8;
    out[14..16].copy_from_slice(&(g.reserved_sectors as u16).to_le_bytes());
    out[16] = g.fats as u8;
    out[17..19].copy_from_slice(&(g.root_entries as u16).to_le_bytes());
    match u16::try_from(g.total_sectors) {
        Ok(n) => out[19..21].copy_from_slice(&n.to_le_bytes()),
        Err(_) => out[32..36].copy_from_slice(&g.total_sectors.to_le_bytes()),
    }
    out[21] = 0xF8;
    out[22..24].copy_from_slice(&(g.sectors_per_fat as u16).to_le_bytes());
    out[24..26].copy_from_slice(&32u16.to_le_bytes()); // sectors per track (unused)
    out[26..28].copy_from_slice(&64u16.to_le_bytes()); // heads (unused)
    out[36] = 0x80; // drive number
    out[38] = 0x29; // extended boot signature: the next three fields are valid
    out[39..43].copy_from_slice(&volume_id.to_le_bytes());
    // No label (a label here would need a matching entry in the root directory).
    out[43..54].copy_from_slice(b"NO NAME    ");
    out[54..62].copy_from_slice(match g.kind {
        FatKind::Fat12 => b"FAT12   ",
        _ => b"FAT16   ",
    });
    out[510] = 0x55;
    out[511] = 0xAA;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        // The STM32F4's flash device: 16 KiB.
        let g = plan(32, 512).unwrap();
        assert_eq!(g.kind, FatKind::Fat12);
        assert_eq!(
            (g.root_entries, g.sectors_per_fat, g.clusters()),
            (32, 1, 27)
        );
        // The x86_64 disk: 16 MiB.
        let g = plan(32768, 512).unwrap();
        assert_eq!(g.kind, FatKind::Fat16);
        assert_eq!(g.sectors_per_cluster, 2);
        assert!(g.clusters() > 4084 && g.clusters() <= 16384);
        // Every size from tiny to large plans to a consistent layout.
        let mut blocks = 16u64;
        while blocks < 1 << 24 {
            for bs in SECTOR_SIZES {
                let g = plan(blocks, bs).unwrap();
                let fat_bits = if g.kind == FatKind::Fat12 { 12 } else { 16 };
                let fat_bytes = u64::from(g.sectors_per_fat) * u64::from(bs);
                assert!((u64::from(g.clusters()) + 2) * fat_bits <= fat_bytes * 8);
                assert!(g.clusters() <= FAT16_MAX_CLUSTERS);
                assert!(u64::from(g.total_sectors) <= blocks);
                // What a reader derives from the boot sector is what was planned.
                let mut boot = [0u8; 4096];
                boot_sector(&g, 1, &mut boot[..bs as usize]);
                assert_eq!(Geometry::parse(&boot[..bs as usize]), Some(g));
            }
            blocks = blocks * 3 / 2;
        }
        assert_eq!(plan(15, 512), Err(Error::NoSpace));
        assert_eq!(plan(1000, 520), Err(Error::Unsupported));
        assert_eq!(plan(1000, 0), Err(Error::Unsupported));
        // Larger than FAT16 can hold: capped, not refused.
        let g = plan(1 << 40, 512).unwrap();
        assert_eq!(g.kind, FatKind::Fat16);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(Geometry::parse(&[0u8; 512]), None);
        assert_eq!(Geometry::parse(&[0u8; 100]), None);
        let mut boot = [0xFFu8; 512];
        assert_eq!(Geometry::parse(&boot), None);
        boot[510] = 0x55;
        boot[511] = 0xAA;
        assert_eq!(Geometry::parse(&boot), None);
    }
}
