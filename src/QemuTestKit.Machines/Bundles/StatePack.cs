using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace QemuTestKit.Machines.Bundles;

/// <summary>What packing a state image produced.</summary>
/// <param name="OriginalLength">The image's length in bytes.</param>
/// <param name="PackedLength">The pack file's length in bytes.</param>
/// <param name="UniqueChunks">Chunks stored as data (each distinct chunk once).</param>
/// <param name="TotalChunks">Chunks in the image, repeats included (zero extents are not chunks).</param>
/// <param name="OriginalSha256">The image's sha256, lower-case hex.</param>
internal sealed record StatePackResult(long OriginalLength, long PackedLength, int UniqueChunks, long TotalChunks, string OriginalSha256);

/// <summary>
/// Stores a qcow2 state image small and restores it byte for byte. A state image holds several internal snapshots,
/// each a whole vmstate whose RAM pages are mostly the ones the snapshot before saved, at other byte offsets: the image
/// is cut into content-defined chunks (<see cref="ContentDefinedChunks"/>), each distinct chunk is stored once, runs of
/// zero bytes (freed clusters) are stored as their length, and what is stored is compressed as one stream. A writable
/// disk's base image is packed the same way (<see cref="BundlePaths.DiskBase"/>): the format holds any file.
/// </summary>
/// <remarks>
/// <para>
/// Format (version 1), little-endian: a <see cref="HeaderSize"/>-byte header (magic <c>QTKSPACK</c>, u16 version,
/// u16 codec, u32 reserved, i64 image length, i64 pack length, 32-byte image sha256, i64 total chunks, i64 unique
/// chunks, u64 reserved, u64 header check: the first 8 bytes of the sha256 of the bytes before it), then one Brotli
/// stream of records: <c>1 len bytes</c> a new chunk, <c>2 index</c> a repeat of the index-th new chunk,
/// <c>3 len</c> zero bytes, <c>0</c> the end. Lengths and indexes are LEB128.
/// </para>
/// <para>
/// Measured on a recorded state image with 6 snapshots (411 MB): chunks alone leave 88 MB; Brotli quality 3 packs
/// that to 37.2 MB in about 1.3 s of one core, and unpacking takes about 0.5 s of one core. zstd (ZstdSharp) level 2
/// packs to 37.9 MB and level 3 to 37.3 MB at about the same speed, Deflate to 44 MB (fastest) or 37.4 MB in 1.9 s
/// (optimal): no reason for a dependency. Brotli quality 5 would save 6% more but takes five times as long to
/// compress. One stream rather than a frame per chunk: a chunk compresses with its neighbours as context (1 to 3%
/// smaller) and twice as fast. Chunk sizes from 2 to 16 KiB on average pack within 2% of each other;
/// 8 KiB keeps the chunk map small.
/// </para>
/// <para>
/// Memory: about 10 MiB of buffers, and 16 bytes of sha256 per distinct chunk while packing (a position per stored
/// chunk while unpacking). Both files are written beside their destination as a hidden temporary file, flushed to disk
/// and renamed over it, so a failure or a cancellation leaves no partial file.
/// </para>
/// </remarks>
internal static class StatePack
{
    public const int FormatVersion = 1;
    public const int HeaderSize = 96;

    internal const int BrotliCodec = 1;
    internal const byte EndRecord = 0;
    internal const byte ChunkRecord = 1;
    internal const byte RepeatRecord = 2;
    internal const byte ZeroRecord = 3;

    /// <summary>The largest chunk a reader accepts; the writer's chunks are at most <see cref="ContentDefinedChunks.MaxSize"/>.</summary>
    internal const int MaxStoredChunk = 1 << 20;

    private static readonly byte[] Magic = "QTKSPACK"u8.ToArray();

    /// <summary>Packs <paramref name="imagePath"/> into a new <paramref name="packPath"/> (replacing one that is there).</summary>
    public static async Task<StatePackResult> PackAsync(string imagePath, string packPath, CancellationToken cancellationToken)
    {
        var temporary = BundlePaths.TempSibling(Path.GetFullPath(packPath));
        try
        {
            var result = await StatePackWriter.WriteAsync(imagePath, temporary, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, packPath, overwrite: true);
            return result;
        }
        catch
        {
            ReplayBundleWriter.TryDelete(temporary, directory: false);
            throw;
        }
    }

    /// <summary>
    /// Restores the image of <paramref name="packPath"/> as <paramref name="imagePath"/> (replacing one that is there):
    /// zero extents become holes, and the result is checked against the length and sha256 the pack recorded.
    /// </summary>
    /// <exception cref="InvalidDataException">The pack is not a state pack, is newer, or is damaged.</exception>
    public static async Task UnpackAsync(string packPath, string imagePath, CancellationToken cancellationToken)
    {
        var temporary = BundlePaths.TempSibling(Path.GetFullPath(imagePath));
        try
        {
            await StatePackReader.ReadAsync(Path.GetFullPath(packPath), temporary, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, imagePath, overwrite: true);
        }
        catch
        {
            ReplayBundleWriter.TryDelete(temporary, directory: false);
            throw;
        }
    }

    /// <summary>
    /// The sha256 (lower-case hex) of the image a pack holds, from its checked header: names the restored image before
    /// restoring it (the restore checks the image against it).
    /// </summary>
    /// <exception cref="InvalidDataException">The pack is not a state pack, is newer, or its header is damaged.</exception>
    public static string ImageSha256(string packPath)
    {
        var full = Path.GetFullPath(packPath);
        using var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var header = new byte[HeaderSize];
        var read = RandomAccess.Read(handle, header, 0);
        return Convert.ToHexString(ReadHeader(full, header.AsSpan(0, read), RandomAccess.GetLength(handle)).Sha256).ToLowerInvariant();
    }

    /// <summary>Whether <paramref name="path"/> starts with the state pack magic (false when there is no such file).</summary>
    public static bool IsPack(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> start = stackalloc byte[Magic.Length];
        return RandomAccess.Read(handle, start, 0) == start.Length && start.SequenceEqual(Magic);
    }

    internal static void WriteHeader(Span<byte> header, long imageLength, long packLength, ReadOnlySpan<byte> sha256, long totalChunks, int uniqueChunks)
    {
        header.Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(header[10..], BrotliCodec);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], imageLength);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], packLength);
        sha256.CopyTo(header[32..]);
        BinaryPrimitives.WriteInt64LittleEndian(header[64..], totalChunks);
        BinaryPrimitives.WriteInt64LittleEndian(header[72..], uniqueChunks);
        HeaderCheck(header).CopyTo(header[88..]);
    }

    /// <summary>Reads and checks a header; <paramref name="fileLength"/> is the pack file's actual length.</summary>
    internal static PackHeader ReadHeader(string packPath, ReadOnlySpan<byte> header, long fileLength)
    {
        if (header.Length < Magic.Length || !header[..Magic.Length].SequenceEqual(Magic))
        {
            throw header.Length < Magic.Length && Magic.AsSpan().StartsWith(header)
                ? Damaged(packPath, Invariant($"it is truncated ({fileLength} bytes, shorter than its header)"))
                : Damaged(packPath, "it does not start with the state pack magic (not a state pack, or its start was overwritten)");
        }

        if (header.Length < 10)
        {
            throw Damaged(packPath, Invariant($"it is truncated ({fileLength} bytes, shorter than its header)"));
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(header[8..]);
        if (version > FormatVersion)
        {
            throw new InvalidDataException(Invariant(
                $"state pack '{packPath}' has format version {version}, newer than this QemuTestKit reads ({FormatVersion}); replay it with the QemuTestKit version that recorded it or a newer one"));
        }

        if (header.Length < HeaderSize)
        {
            throw Damaged(packPath, Invariant($"it is truncated ({fileLength} bytes, shorter than its header)"));
        }

        if (version == 0 || !header[88..HeaderSize].SequenceEqual(HeaderCheck(header)))
        {
            throw Damaged(packPath, "its header does not match its checksum");
        }

        var parsed = new PackHeader(
            BinaryPrimitives.ReadUInt16LittleEndian(header[10..]),
            BinaryPrimitives.ReadInt64LittleEndian(header[16..]),
            BinaryPrimitives.ReadInt64LittleEndian(header[24..]),
            header.Slice(32, 32).ToArray(),
            BinaryPrimitives.ReadInt64LittleEndian(header[64..]),
            BinaryPrimitives.ReadInt64LittleEndian(header[72..]));
        if (parsed.Codec != BrotliCodec || parsed.ImageLength < 0 || parsed.UniqueChunks < 0 || parsed.UniqueChunks > int.MaxValue || parsed.TotalChunks < parsed.UniqueChunks)
        {
            throw Damaged(packPath, "its header holds impossible values");
        }

        if (fileLength < parsed.PackLength)
        {
            throw Damaged(packPath, Invariant($"it is truncated ({fileLength} of {parsed.PackLength} bytes)"));
        }

        if (fileLength > parsed.PackLength)
        {
            throw Damaged(packPath, Invariant($"it has {fileLength - parsed.PackLength} bytes more than it was written with ({parsed.PackLength})"));
        }

        return parsed;
    }

    internal static InvalidDataException Damaged(string packPath, string what) =>
        new(Invariant($"state pack '{packPath}' is damaged: {what}; restore the bundle from a good copy or record the run again"));

    internal static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static byte[] HeaderCheck(ReadOnlySpan<byte> header) => SHA256.HashData(header[..88])[..8];
}

/// <summary>A checked state pack header.</summary>
internal sealed record PackHeader(int Codec, long ImageLength, long PackLength, byte[] Sha256, long TotalChunks, long UniqueChunks);
