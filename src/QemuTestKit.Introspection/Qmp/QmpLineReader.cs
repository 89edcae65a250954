using System.Buffers;

namespace QemuTestKit.Introspection.Qmp;

/// <summary>Splits a QMP byte stream into lines, refusing lines longer than a limit so a broken peer cannot exhaust memory.</summary>
internal sealed class QmpLineReader
{
    private readonly Stream _stream;
    private readonly int _maxLineBytes;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public QmpLineReader(Stream stream, int maxLineBytes)
    {
        _stream = stream;
        _maxLineBytes = maxLineBytes;
    }

    /// <summary>Reads the next line without its terminator, or null at a clean end of stream.</summary>
    /// <exception cref="QmpProtocolException">The line is longer than the limit.</exception>
    /// <exception cref="QmpDisconnectedException">The stream ended in the middle of a line: the peer went away mid-message,
    /// so the disconnect (and, for a process, how it ended) is the news, not the truncated bytes.</exception>
    public async Task<byte[]?> ReadLineAsync(CancellationToken cancellationToken)
    {
        ArrayBufferWriter<byte>? pending = null;
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var segment = _buffer.AsSpan(_start, newline - _start);
                _start = newline + 1;
                if (pending is null)
                {
                    CheckLength(segment.Length);
                    return segment.ToArray();
                }

                CheckLength(pending.WrittenCount + segment.Length);
                pending.Write(segment);
                return pending.WrittenSpan.ToArray();
            }

            if (_end > _start)
            {
                pending ??= new ArrayBufferWriter<byte>();
                CheckLength(pending.WrittenCount + (_end - _start));
                pending.Write(_buffer.AsSpan(_start, _end - _start));
            }

            _start = 0;
            _end = await _stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
            if (_end == 0)
            {
                if (pending is { WrittenCount: > 0 })
                {
                    throw new QmpDisconnectedException(
                        $"the QMP peer closed the connection in the middle of a message ({pending.WrittenCount} bytes without a line end): truncated reply");
                }

                return null;
            }
        }
    }

    private void CheckLength(int length)
    {
        if (length > _maxLineBytes)
        {
            throw new QmpProtocolException(
                $"the QMP peer sent a line longer than {DescribeLimit(_maxLineBytes)}; raise QmpClientOptions.MaxLineBytes if this is a real reply");
        }
    }

    private static string DescribeLimit(int bytes)
    {
        const int mebibyte = 1024 * 1024;
        return bytes % mebibyte == 0 ? $"{bytes / mebibyte} MiB" : $"{bytes} bytes";
    }
}
