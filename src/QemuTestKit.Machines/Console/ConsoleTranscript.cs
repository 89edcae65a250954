using System.Text;

namespace QemuTestKit.Machines.Console;

/// <summary>
/// One piece of console output as it was received.
/// </summary>
/// <param name="Offset">Byte offset of the first byte in the transcript.</param>
/// <param name="TextOffset">Character offset in <see cref="ConsoleTranscript.Text"/> where this chunk's text begins
/// (a UTF-8 sequence split across chunks is counted in the chunk that completes it).</param>
/// <param name="TimeUtc">Host time when the bytes were received.</param>
/// <param name="Bytes">The bytes, exactly as received.</param>
/// <param name="Icount">Guest instruction count when the bytes were written, when a record/replay layer knows it.</param>
public sealed record ConsoleChunk(long Offset, long TextOffset, DateTime TimeUtc, ReadOnlyMemory<byte> Bytes, long? Icount = null)
{
    public int Length => Bytes.Length;

    /// <summary>Offset just past the last byte.</summary>
    public long End => Offset + Bytes.Length;
}

/// <summary>
/// Every byte received from a serial console, in order, with the host time of each received chunk. Thread-safe.
/// Offers the bytes (by byte offset) and their UTF-8 decoding (by character offset) for pattern matching.
/// </summary>
public sealed class ConsoleTranscript
{
    private const int TailWindowCharacters = 64 * 1024;

    private readonly object _gate = new();
    private readonly List<ConsoleChunk> _chunks = new();
    private readonly StringBuilder _text = new();
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _decodeBuffer = new char[4096];
    private long _length;
    private string? _snapshot;
    private TaskCompletionSource _changed = NewSignal();

    /// <summary>Number of bytes received.</summary>
    public long Length
    {
        get
        {
            lock (_gate)
            {
                return _length;
            }
        }
    }

    /// <summary>Number of characters in <see cref="Text"/>.</summary>
    public long TextLength
    {
        get
        {
            lock (_gate)
            {
                return _text.Length;
            }
        }
    }

    public int ChunkCount
    {
        get
        {
            lock (_gate)
            {
                return _chunks.Count;
            }
        }
    }

    /// <summary>A copy of the chunks received so far.</summary>
    public IReadOnlyList<ConsoleChunk> Chunks
    {
        get
        {
            lock (_gate)
            {
                return _chunks.ToArray();
            }
        }
    }

    /// <summary>Everything received, decoded as UTF-8 (invalid bytes become U+FFFD), escape sequences included.</summary>
    public string Text => Snapshot();

    /// <summary>Appends bytes received now.</summary>
    public void Append(ReadOnlySpan<byte> data) => Append(data, DateTime.UtcNow);

    /// <summary>Appends bytes received at <paramref name="timeUtc"/>.</summary>
    public void Append(ReadOnlySpan<byte> data, DateTime timeUtc)
    {
        if (data.IsEmpty)
        {
            return;
        }

        TaskCompletionSource changed;
        lock (_gate)
        {
            var textOffset = _text.Length;
            var needed = _decoder.GetCharCount(data, flush: false);
            if (needed > _decodeBuffer.Length)
            {
                _decodeBuffer = new char[Math.Max(needed, _decodeBuffer.Length * 2)];
            }

            var chars = _decoder.GetChars(data, _decodeBuffer, flush: false);
            _text.Append(_decodeBuffer, 0, chars);
            _chunks.Add(new ConsoleChunk(_length, textOffset, timeUtc.Kind == DateTimeKind.Utc ? timeUtc : timeUtc.ToUniversalTime(), data.ToArray()));
            _length += data.Length;
            _snapshot = null;
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
    }

    /// <summary>Records the guest instruction count of chunk <paramref name="index"/>.</summary>
    public void SetIcount(int index, long icount)
    {
        lock (_gate)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _chunks.Count);
            _chunks[index] = _chunks[index] with { Icount = icount };
        }
    }

    /// <summary>Index of the chunk holding byte <paramref name="offset"/>, or -1 when no byte has that offset.</summary>
    public int ChunkIndexAt(long offset)
    {
        lock (_gate)
        {
            if (offset < 0 || offset >= _length)
            {
                return -1;
            }

            int low = 0, high = _chunks.Count - 1;
            while (low < high)
            {
                var mid = (low + high + 1) / 2;
                if (_chunks[mid].Offset <= offset)
                {
                    low = mid;
                }
                else
                {
                    high = mid - 1;
                }
            }

            return low;
        }
    }

    /// <summary>The bytes from byte offset <paramref name="offset"/> to the end.</summary>
    public byte[] GetBytes(long offset = 0)
    {
        lock (_gate)
        {
            return GetBytesLocked(offset, _length - Math.Clamp(offset, 0, _length));
        }
    }

    /// <summary>At most <paramref name="count"/> bytes from byte offset <paramref name="offset"/>.</summary>
    public byte[] GetBytes(long offset, long count)
    {
        lock (_gate)
        {
            return GetBytesLocked(offset, count);
        }
    }

    /// <summary>The text from character offset <paramref name="offset"/> to the end.</summary>
    public string GetText(long offset)
    {
        lock (_gate)
        {
            var start = (int)Math.Clamp(offset, 0, _text.Length);
            return _snapshot is not null ? _snapshot[start..] : _text.ToString(start, _text.Length - start);
        }
    }

    /// <summary>
    /// The last <paramref name="lines"/> lines of the text, for error messages: carriage returns, escape sequences
    /// and other control characters removed.
    /// </summary>
    public string Tail(int lines = 20)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lines);
        string window;
        lock (_gate)
        {
            var start = Math.Max(0, _text.Length - TailWindowCharacters);
            window = _text.ToString(start, _text.Length - start);
        }

        return ConsoleText.TailLines(ConsoleText.Sanitize(window), lines);
    }

    /// <summary>Writes the bytes received so far to <paramref name="path"/>, exactly as received.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        File.WriteAllBytes(path, GetBytes());
    }

    /// <inheritdoc cref="Save"/>
    public Task SaveAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return File.WriteAllBytesAsync(path, GetBytes(), cancellationToken);
    }

    /// <summary>The whole text as one string, cached until the next append.</summary>
    internal string Snapshot()
    {
        lock (_gate)
        {
            return _snapshot ??= _text.ToString();
        }
    }

    /// <summary>A task that completes once the text is longer than <paramref name="textLength"/> characters.</summary>
    internal Task WhenTextBeyond(long textLength)
    {
        lock (_gate)
        {
            return _text.Length > textLength ? Task.CompletedTask : _changed.Task;
        }
    }

    private byte[] GetBytesLocked(long offset, long count)
    {
        offset = Math.Clamp(offset, 0, _length);
        count = Math.Clamp(count, 0, _length - offset);
        var result = new byte[count];
        if (count == 0)
        {
            return result;
        }

        var index = ChunkIndexAt(offset);
        var written = 0L;
        while (written < count)
        {
            var chunk = _chunks[index++];
            var from = (int)Math.Max(0, offset + written - chunk.Offset);
            var take = (int)Math.Min(chunk.Length - from, count - written);
            chunk.Bytes.Span.Slice(from, take).CopyTo(result.AsSpan((int)written));
            written += take;
        }

        return result;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
