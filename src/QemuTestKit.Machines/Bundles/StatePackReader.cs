using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// Restores the image of one state pack (see <see cref="StatePack"/> for the format). Every record is checked before it
/// is applied and every record produces at least one byte, bounded by the length the header records, so a damaged pack
/// ends in an <see cref="InvalidDataException"/>, never in a loop or an oversized file.
/// </summary>
internal sealed class StatePackReader
{
    private const int InputSize = 2 * StatePack.MaxStoredChunk;
    private const int OutputSize = 4 << 20;
    private const int RecordHead = 1 + 10;

    private static readonly byte[] Zeros = new byte[1 << 20];

    private readonly string _packPath;
    private readonly PackHeader _header;
    private readonly Stream _decoder;
    private readonly SafeFileHandle _image;
    private readonly IncrementalHash _hash;
    private readonly byte[] _input = new byte[InputSize];
    private readonly byte[] _output = new byte[OutputSize];

    // Where each stored chunk went in the image: a repeat is copied from there (the buffer or the file written so far).
    private readonly List<long> _chunkOffsets = [];
    private readonly List<int> _chunkLengths = [];
    private int _inputStart;
    private int _inputEnd;
    private long _outputOffset;
    private int _outputLength;
    private long _position;
    private long _totalChunks;

    private StatePackReader(string packPath, PackHeader header, Stream decoder, SafeFileHandle image, IncrementalHash hash)
    {
        _packPath = packPath;
        _header = header;
        _decoder = decoder;
        _image = image;
        _hash = hash;
    }

    public static async Task ReadAsync(string packPath, string imagePath, CancellationToken cancellationToken)
    {
        var input = new FileStream(packPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (input.ConfigureAwait(false))
        {
            var headerBytes = new byte[StatePack.HeaderSize];
            var read = await input.ReadAtLeastAsync(headerBytes, headerBytes.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            var header = StatePack.ReadHeader(packPath, headerBytes.AsSpan(0, read), input.Length);

            var output = new FileStream(imagePath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0, FileOptions.Asynchronous);
            await using (output.ConfigureAwait(false))
            {
                var decoder = new BrotliStream(input, CompressionMode.Decompress, leaveOpen: true);
                await using (decoder.ConfigureAwait(false))
                {
                    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    var reader = new StatePackReader(packPath, header, decoder, output.SafeFileHandle, hash);
                    await reader.RunAsync(cancellationToken).ConfigureAwait(false);
                }

                RandomAccess.SetLength(output.SafeFileHandle, header.ImageLength);
                output.Flush(flushToDisk: true);
            }
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await FillAsync(RecordHead, cancellationToken).ConfigureAwait(false);
            var tag = TakeByte();
            if (tag == StatePack.EndRecord)
            {
                break;
            }

            if (tag is not (StatePack.ChunkRecord or StatePack.RepeatRecord or StatePack.ZeroRecord))
            {
                throw Damaged(StatePack.Invariant($"it holds a record of unknown kind {tag} at image offset {_position}"));
            }

            var value = TakeVarint();
            var apply = tag switch
            {
                StatePack.ChunkRecord => CopyStoredChunkAsync(value, cancellationToken),
                StatePack.RepeatRecord => CopyRepeatAsync(value, cancellationToken),
                _ => SkipZerosAsync(value, cancellationToken),
            };
            await apply.ConfigureAwait(false);
        }

        await FlushAsync(cancellationToken).ConfigureAwait(false);
        if (_position != _header.ImageLength)
        {
            throw Damaged(StatePack.Invariant($"its records restore {_position} bytes, but its header records {_header.ImageLength}"));
        }

        if (_totalChunks != _header.TotalChunks || _chunkOffsets.Count != _header.UniqueChunks)
        {
            throw Damaged(StatePack.Invariant($"its records hold {_totalChunks} chunks ({_chunkOffsets.Count} distinct), but its header records {_header.TotalChunks} ({_header.UniqueChunks})"));
        }

        if (await FillAsync(1, cancellationToken).ConfigureAwait(false) > 0)
        {
            throw Damaged("it holds data after its end record");
        }

        var sha256 = _hash.GetHashAndReset();
        if (!sha256.AsSpan().SequenceEqual(_header.Sha256))
        {
            throw Damaged(StatePack.Invariant($"the restored image's sha256 is {BundleHashing.Hex(sha256)}, but the pack recorded {BundleHashing.Hex(_header.Sha256)}"));
        }
    }

    private async ValueTask CopyStoredChunkAsync(ulong length, CancellationToken cancellationToken)
    {
        if (length is 0 or > StatePack.MaxStoredChunk)
        {
            throw Damaged(StatePack.Invariant($"a stored chunk at image offset {_position} has the impossible length {length}"));
        }

        var count = (int)length;
        if (await FillAsync(count, cancellationToken).ConfigureAwait(false) < count)
        {
            throw Damaged(StatePack.Invariant($"its records end inside the chunk at image offset {_position}"));
        }

        await ReserveAsync(count, cancellationToken).ConfigureAwait(false);
        _chunkOffsets.Add(_position);
        _chunkLengths.Add(count);
        _input.AsSpan(_inputStart, count).CopyTo(_output.AsSpan(_outputLength));
        _inputStart += count;
        Produced(count);
    }

    private async ValueTask CopyRepeatAsync(ulong index, CancellationToken cancellationToken)
    {
        if (index >= (ulong)_chunkOffsets.Count)
        {
            throw Damaged(StatePack.Invariant($"a chunk reference at image offset {_position} names chunk {index}, but only {_chunkOffsets.Count} came before it"));
        }

        var offset = _chunkOffsets[(int)index];
        var count = _chunkLengths[(int)index];
        await ReserveAsync(count, cancellationToken).ConfigureAwait(false);
        if (offset >= _outputOffset)
        {
            Buffer.BlockCopy(_output, (int)(offset - _outputOffset), _output, _outputLength, count);
        }
        else
        {
            // Written out already: read it back from the image, where it is still in the page cache. Synchronously:
            // .NET has no asynchronous file reads on Linux, each one is a hop to the thread pool, and the tens of
            // thousands of repeats in a state image cost more in those hops than in the reads.
            var done = 0;
            while (done < count)
            {
                var read = RandomAccess.Read(_image, _output.AsSpan(_outputLength + done, count - done), offset + done);
                if (read == 0)
                {
                    throw new IOException(StatePack.Invariant($"the image being restored from '{_packPath}' is shorter than what was written to it"));
                }

                done += read;
            }
        }

        Produced(count);
    }

    private async ValueTask SkipZerosAsync(ulong length, CancellationToken cancellationToken)
    {
        if (length == 0 || length > (ulong)(_header.ImageLength - _position))
        {
            throw Damaged(StatePack.Invariant($"a zero run at image offset {_position} of {length} bytes does not fit the image's {_header.ImageLength} bytes"));
        }

        await FlushAsync(cancellationToken).ConfigureAwait(false);

        // Not written: the restored image keeps the run as a hole. It counts in the image's sha256 all the same, which
        // for a huge run takes a while, so it can be cancelled.
        for (var left = (long)length; left > 0; left -= Zeros.Length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _hash.AppendData(Zeros, 0, (int)Math.Min(left, Zeros.Length));
        }

        _position += (long)length;
        _outputOffset = _position;
    }

    /// <summary>Makes room for <paramref name="count"/> more bytes in the output buffer, after checking they fit the image.</summary>
    private async ValueTask ReserveAsync(int count, CancellationToken cancellationToken)
    {
        if (count > _header.ImageLength - _position)
        {
            throw Damaged(StatePack.Invariant($"its records go past the image's {_header.ImageLength} bytes at offset {_position}"));
        }

        if (_outputLength + count > _output.Length)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void Produced(int count)
    {
        _outputLength += count;
        _position += count;
        _totalChunks++;
    }

    private async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_outputLength > 0)
        {
            _hash.AppendData(_output, 0, _outputLength);
            await RandomAccess.WriteAsync(_image, _output.AsMemory(0, _outputLength), _outputOffset, cancellationToken).ConfigureAwait(false);
        }

        _outputOffset = _position;
        _outputLength = 0;
    }

    /// <summary>Reads until <paramref name="count"/> bytes are buffered or the stream ends; returns how many are buffered.</summary>
    private async ValueTask<int> FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_inputEnd - _inputStart >= count)
        {
            return _inputEnd - _inputStart;
        }

        Buffer.BlockCopy(_input, _inputStart, _input, 0, _inputEnd - _inputStart);
        _inputEnd -= _inputStart;
        _inputStart = 0;
        while (_inputEnd < count)
        {
            int read;
            try
            {
                read = await _decoder.ReadAsync(_input.AsMemory(_inputEnd), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
            {
                // BrotliStream reports invalid data as InvalidOperationException, truncated data as InvalidDataException.
                throw Damaged(StatePack.Invariant($"its compressed data cannot be decompressed ({e.Message.TrimEnd('.')})"));
            }

            if (read == 0)
            {
                break;
            }

            _inputEnd += read;
        }

        return _inputEnd;
    }

    private byte TakeByte()
    {
        if (_inputStart == _inputEnd)
        {
            throw Damaged(StatePack.Invariant($"its records end without an end record, at image offset {_position}"));
        }

        return _input[_inputStart++];
    }

    private ulong TakeVarint()
    {
        var value = 0UL;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var next = TakeByte();
            value |= (ulong)(next & 0x7F) << shift;
            if (next < 0x80)
            {
                return value;
            }
        }

        throw Damaged(StatePack.Invariant($"a record at image offset {_position} holds a number of more than 64 bits"));
    }

    private InvalidDataException Damaged(string what) => StatePack.Damaged(_packPath, what);
}
