using System.Buffers.Binary;
using System.Text;

namespace QemuTestKit.Introspection.Images;

/// <summary>
/// What a qcow2 image's header says (QEMU's docs/interop/qcow2.txt), read from the file: cheaper than a
/// <c>qemu-img</c> process on the path of every replay, and the same bytes <c>qemu-img</c> would read.
/// </summary>
public static class Qcow2Header
{
    internal const int Version2Length = 72;
    private const int Version3LengthField = 100;
    private const uint BackingFormatExtension = 0xE2792ACA;
    private const int MaxHeaderRead = 64 << 10; // the header and its extensions fit in the first cluster (at least 512 bytes, 64 KiB by default)

    internal static ReadOnlySpan<byte> Magic => [(byte)'Q', (byte)'F', (byte)'I', 0xfb];

    /// <summary>Whether <paramref name="imagePath"/> starts like a qcow2 image.</summary>
    public static bool IsQcow2(string imagePath)
    {
        using var file = File.OpenHandle(imagePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> magic = stackalloc byte[4];
        return RandomAccess.Read(file, magic, 0) == magic.Length && magic.SequenceEqual(Magic);
    }

    /// <summary>
    /// Whether the header marks the image neither dirty (refcounts to rebuild: lazy refcounts left by a QEMU that did not
    /// close it) nor corrupt (QEMU found its metadata inconsistent and refuses to write it).
    /// </summary>
    /// <exception cref="QemuImageException">The file is not a qcow2 image.</exception>
    public static bool IsClean(string imagePath)
    {
        try
        {
            using var file = File.OpenHandle(imagePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var header = new byte[Version2Length + 8];
            var read = RandomAccess.Read(file, header, 0);
            if (read < Version2Length || !header.AsSpan(0, 4).SequenceEqual(Magic))
            {
                throw new QemuImageException($"'{imagePath}' is not a qcow2 image (no qcow2 header)");
            }

            // Version 2 has no incompatible-feature bits (offset 72), so nothing there can say dirty or corrupt.
            const ulong dirtyOrCorrupt = 0b11;
            return BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)) < 3
                || (read == header.Length && (BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(Version2Length)) & dirtyOrCorrupt) == 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QemuImageException($"cannot read the header of '{imagePath}': {e.Message}", e);
        }
    }

    /// <summary>The format an overlay names for its backing file (<c>qemu-img create -F</c>); null when it names none.</summary>
    /// <exception cref="QemuImageException">The file is not a qcow2 image, or its header is damaged.</exception>
    public static string? BackingFormat(string imagePath)
    {
        byte[] header;
        int read;
        try
        {
            using var file = File.OpenHandle(imagePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            header = new byte[(int)Math.Min(MaxHeaderRead, RandomAccess.GetLength(file))];
            read = RandomAccess.Read(file, header, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QemuImageException($"cannot read the header of '{imagePath}': {e.Message}", e);
        }

        var bytes = header.AsSpan(0, read);
        if (bytes.Length < Version2Length || !bytes[..4].SequenceEqual(Magic))
        {
            throw Damaged(imagePath, "it is not a qcow2 image (no qcow2 header)");
        }

        var version = BinaryPrimitives.ReadUInt32BigEndian(bytes[4..]);
        var at = version >= 3 && bytes.Length >= Version3LengthField + 4
            ? (int)BinaryPrimitives.ReadUInt32BigEndian(bytes[Version3LengthField..])
            : Version2Length;
        while (at + 8 <= bytes.Length)
        {
            var type = BinaryPrimitives.ReadUInt32BigEndian(bytes[at..]);
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes[(at + 4)..]);
            if (type == 0)
            {
                return null;
            }

            if (length < 0 || at + 8 + length > bytes.Length)
            {
                throw Damaged(imagePath, $"a header extension at byte {at} runs past the header");
            }

            if (type == BackingFormatExtension)
            {
                return Encoding.ASCII.GetString(bytes.Slice(at + 8, length));
            }

            at += 8 + ((length + 7) & ~7);
        }

        throw Damaged(imagePath, "its header extensions have no end marker");
    }

    internal static QemuImageException Damaged(string imagePath, string why) =>
        new($"cannot read '{imagePath}': {why}; the image is damaged or not a qcow2 image (check it with: qemu-img check {imagePath})");
}
