using System.Buffers.Binary;
using System.Text;

namespace QemuTestKit.Introspection.Images;

/// <summary>
/// Reads a qcow2 image's internal snapshot table from the file itself (QEMU's docs/interop/qcow2.txt), the same table
/// <c>qemu-img info -U</c> prints. Listing snapshots is on the path of every recorded start and every replay that
/// stops at an icount, and a <c>qemu-img</c> process costs 50-100 ms there; reading two small regions of the file
/// costs well under one.
/// </summary>
public static class Qcow2SnapshotTable
{
    private const int EntryFixedLength = 40;
    private const int MaxSnapshots = 65536; // QEMU's QCOW_MAX_SNAPSHOTS
    private const int MaxExtraData = 1024; // QEMU's QCOW_MAX_SNAPSHOT_EXTRA_DATA
    private const long MaxTableLength = 64L << 20; // QEMU's QCOW_MAX_SNAPSHOTS_SIZE

    /// <summary>The image's internal snapshots, in table order (as <c>qemu-img</c> lists them).</summary>
    /// <exception cref="QemuImageException">The file is not a qcow2 image, or its snapshot table is damaged.</exception>
    public static IReadOnlyList<ImageSnapshot> Read(string imagePath)
    {
        try
        {
            using var file = File.OpenHandle(imagePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var length = RandomAccess.GetLength(file);
            var header = new byte[Qcow2Header.Version2Length];
            if (RandomAccess.Read(file, header, 0) < header.Length || !header.AsSpan(0, 4).SequenceEqual(Qcow2Header.Magic))
            {
                throw Damaged(imagePath, "it is not a qcow2 image (no qcow2 header)");
            }

            var count = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(60));
            var tableOffset = BinaryPrimitives.ReadInt64BigEndian(header.AsSpan(64));
            if (count == 0)
            {
                return [];
            }

            if (count > MaxSnapshots || tableOffset <= 0 || tableOffset >= length)
            {
                throw Damaged(imagePath, $"its header names {count} snapshots at offset {tableOffset}, outside the {length}-byte file");
            }

            // Each entry is at most 40 fixed bytes, 1 KiB of extra data and two 64 KiB strings; read what the file holds.
            var table = new byte[(int)Math.Min(Math.Min(length - tableOffset, MaxTableLength), count * (EntryFixedLength + MaxExtraData + 2 * 65536L + 8))];
            var read = RandomAccess.Read(file, table, tableOffset);
            return Parse(imagePath, table.AsSpan(0, read), (int)count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QemuImageException($"cannot read the snapshot table of '{imagePath}': {e.Message}", e);
        }
    }

    private static List<ImageSnapshot> Parse(string imagePath, ReadOnlySpan<byte> table, int count)
    {
        var snapshots = new List<ImageSnapshot>(count);
        var at = 0;
        for (var i = 0; i < count; i++)
        {
            if (table.Length - at < EntryFixedLength)
            {
                throw Damaged(imagePath, $"snapshot {i + 1} of {count} lies beyond the end of the file");
            }

            var entry = table[at..];
            var idLength = BinaryPrimitives.ReadUInt16BigEndian(entry[12..]);
            var nameLength = BinaryPrimitives.ReadUInt16BigEndian(entry[14..]);
            var dateSec = BinaryPrimitives.ReadUInt32BigEndian(entry[16..]);
            var dateNsec = BinaryPrimitives.ReadUInt32BigEndian(entry[20..]);
            var vmClockNsec = BinaryPrimitives.ReadInt64BigEndian(entry[24..]);
            long vmStateSize = BinaryPrimitives.ReadUInt32BigEndian(entry[32..]);
            var extraLength = BinaryPrimitives.ReadUInt32BigEndian(entry[36..]);
            var entryLength = EntryFixedLength + (long)extraLength + idLength + nameLength;
            if (extraLength > MaxExtraData || entryLength > entry.Length)
            {
                throw Damaged(imagePath, $"snapshot {i + 1} of {count} is cut short or malformed");
            }

            var extra = entry.Slice(EntryFixedLength, (int)extraLength);
            long? icount = null;
            if (extra.Length >= 8)
            {
                vmStateSize = BinaryPrimitives.ReadInt64BigEndian(extra);
            }

            if (extra.Length >= 24 && BinaryPrimitives.ReadInt64BigEndian(extra[16..]) is var recorded and not -1)
            {
                icount = recorded;
            }

            var strings = entry[(EntryFixedLength + (int)extraLength)..];
            var id = Encoding.UTF8.GetString(strings[..idLength]);
            var name = Encoding.UTF8.GetString(strings.Slice(idLength, nameLength));
            snapshots.Add(new ImageSnapshot(id, name, vmStateSize, dateSec, dateNsec,
                vmClockNsec / 1_000_000_000, vmClockNsec % 1_000_000_000, icount));
            at += (int)((entryLength + 7) & ~7L); // entries are padded to a multiple of 8 bytes
        }

        return snapshots;
    }

    private static QemuImageException Damaged(string imagePath, string why) => Qcow2Header.Damaged(imagePath, "listing its snapshots: " + why);
}
