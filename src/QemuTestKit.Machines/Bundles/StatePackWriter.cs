using System.Buffers;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace QemuTestKit.Machines.Bundles;

/// <summary>Writes one state pack (see <see cref="StatePack"/> for the format) in one pass over the image.</summary>
internal sealed class StatePackWriter : IDisposable
{
    private const int ReadSize = 4 << 20;
    private const int StageSize = 1 << 20;
    private const int BrotliQuality = 3;
    private const int BrotliWindow = 22;

    /// <summary>
    /// Zero runs are found as whole aligned blocks of the file system's usual size: those are what an unpacked image
    /// can leave as holes, and a zero run inside guest data is short and compresses to nothing anyway.
    /// </summary>
    internal const int ZeroBlock = 4096;

    private readonly ContentDefinedChunks _chunks = ContentDefinedChunks.Default;
    private readonly Dictionary<UInt128, int> _seen = [];
    private readonly FileStream _output;
    private readonly byte[] _stage;
    private readonly byte[] _compressed = new byte[StageSize];
    private BrotliEncoder _encoder = new(BrotliQuality, BrotliWindow);
    private int _staged;
    private long _pendingZeros;
    private long _totalChunks;
    private long _packLength = StatePack.HeaderSize;

    // The next all-zero block at or after the current position once found, and where the search for it stopped: a
    // chunk is cut at the next zero block, and every chunk would otherwise scan the same blocks again.
    private long _zeroAt = -1;
    private long _scannedTo;

    private StatePackWriter(FileStream output)
    {
        _output = output;
        _stage = new byte[StageSize + _chunks.MaxSize + 32];
    }

    public static async Task<StatePackResult> WriteAsync(string imagePath, string packPath, CancellationToken cancellationToken)
    {
        var input = new FileStream(imagePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (input.ConfigureAwait(false))
        {
            var output = new FileStream(packPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.Asynchronous);
            await using (output.ConfigureAwait(false))
            {
                using var writer = new StatePackWriter(output);
                return await writer.RunAsync(input, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void Dispose() => _encoder.Dispose();

    private async Task<StatePackResult> RunAsync(Stream input, CancellationToken cancellationToken)
    {
        await _output.WriteAsync(new byte[StatePack.HeaderSize], cancellationToken).ConfigureAwait(false);
        using var imageHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        // The buffer always holds a whole largest chunk and the zero block after it (until the end of the image), so
        // that a cut and a zero block are found the same wherever the reads happen to end.
        var lookahead = _chunks.MaxSize + ZeroBlock;
        var buffer = new byte[ReadSize + lookahead];
        long bufferOffset = 0;
        int start = 0, end = 0;
        var atEnd = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!atEnd)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                bufferOffset += start;
                end -= start;
                start = 0;
                while (end < buffer.Length && !atEnd)
                {
                    var read = await input.ReadAsync(buffer.AsMemory(end), cancellationToken).ConfigureAwait(false);
                    imageHash.AppendData(buffer, end, read);
                    end += read;
                    atEnd = read == 0;
                }
            }

            if (start == end)
            {
                break;
            }

            while (atEnd ? start < end : end - start >= lookahead)
            {
                start += NextPiece(buffer.AsSpan(0, end), bufferOffset, start, atEnd);
                if (_staged >= StageSize)
                {
                    await CompressStageAsync(final: false, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        StageZeros();
        _stage[_staged++] = StatePack.EndRecord;
        await CompressStageAsync(final: true, cancellationToken).ConfigureAwait(false);

        var imageLength = bufferOffset + end;
        var sha256 = imageHash.GetHashAndReset();
        var header = new byte[StatePack.HeaderSize];
        StatePack.WriteHeader(header, imageLength, _packLength, sha256, _totalChunks, _seen.Count);
        _output.Position = 0;
        await _output.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        _output.Flush(flushToDisk: true);
        return new StatePackResult(imageLength, _packLength, _seen.Count, _totalChunks, BundleHashing.Hex(sha256));
    }

    /// <summary>Stages the zero block or chunk at <paramref name="start"/>; returns its length.</summary>
    private int NextPiece(ReadOnlySpan<byte> buffer, long bufferOffset, int start, bool atEnd)
    {
        var position = bufferOffset + start;
        var available = bufferOffset + buffer.Length;
        var limit = Math.Min(available, position + _chunks.MaxSize);
        var zero = NextZeroBlock(buffer, bufferOffset, position, limit, atEnd);
        if (zero == position)
        {
            var length = (int)Math.Min(ZeroBlock, available - position);
            _pendingZeros += length;
            _zeroAt = -1;
            _scannedTo = position + length;
            return length;
        }

        var chunk = buffer.Slice(start, (int)(Math.Min(limit, zero) - position));
        chunk = chunk[.._chunks.NextCut(chunk)];
        StageChunk(chunk);
        return chunk.Length;
    }

    /// <summary>The offset of the first all-zero aligned block at or after <paramref name="position"/>, searched below <paramref name="limit"/>; <see cref="long.MaxValue"/> if none.</summary>
    private long NextZeroBlock(ReadOnlySpan<byte> buffer, long bufferOffset, long position, long limit, bool atEnd)
    {
        if (_zeroAt >= position)
        {
            return _zeroAt;
        }

        var available = bufferOffset + buffer.Length;
        var block = Math.Max(_scannedTo, (position + ZeroBlock - 1) & ~(long)(ZeroBlock - 1));
        for (; block < limit; block += ZeroBlock)
        {
            var blockEnd = Math.Min(block + ZeroBlock, available);
            if (blockEnd - block < ZeroBlock && !atEnd)
            {
                break; // Not read whole yet.
            }

            if (buffer[(int)(block - bufferOffset)..(int)(blockEnd - bufferOffset)].IndexOfAnyExcept((byte)0) < 0)
            {
                _zeroAt = block;
                return block;
            }
        }

        _scannedTo = block;
        return long.MaxValue;
    }

    private void StageChunk(ReadOnlySpan<byte> chunk)
    {
        StageZeros();
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(chunk, hash);
        _totalChunks++;

        // 128 bits of sha256 identify a chunk: an accidental collision needs about 2^64 chunks.
        ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_seen, MemoryMarshal.Read<UInt128>(hash), out var exists);
        if (exists)
        {
            _stage[_staged++] = StatePack.RepeatRecord;
            _staged += WriteVarint(_stage.AsSpan(_staged), (ulong)index);
            return;
        }

        index = _seen.Count - 1;
        _stage[_staged++] = StatePack.ChunkRecord;
        _staged += WriteVarint(_stage.AsSpan(_staged), (ulong)chunk.Length);
        chunk.CopyTo(_stage.AsSpan(_staged));
        _staged += chunk.Length;
    }

    private void StageZeros()
    {
        if (_pendingZeros > 0)
        {
            _stage[_staged++] = StatePack.ZeroRecord;
            _staged += WriteVarint(_stage.AsSpan(_staged), (ulong)_pendingZeros);
            _pendingZeros = 0;
        }
    }

    private async ValueTask CompressStageAsync(bool final, CancellationToken cancellationToken)
    {
        var pending = _stage.AsMemory(0, _staged);
        OperationStatus status;
        do
        {
            status = _encoder.Compress(pending.Span, _compressed, out var consumed, out var written, final);
            if (status is not (OperationStatus.Done or OperationStatus.DestinationTooSmall))
            {
                throw new InvalidOperationException(StatePack.Invariant($"the Brotli encoder failed ({status})"));
            }

            pending = pending[consumed..];
            await _output.WriteAsync(_compressed.AsMemory(0, written), cancellationToken).ConfigureAwait(false);
            _packLength += written;
        }
        while (status == OperationStatus.DestinationTooSmall);

        _staged = 0;
    }

    private static int WriteVarint(Span<byte> target, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            target[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        target[i++] = (byte)value;
        return i;
    }
}
