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
    /// <exception cref="QmpProtocolException">The line is longer than the limit, or the stream ended mid-line.</exception>
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
                    throw new QmpProtocolException(
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
                $"the QMP peer sent a line longer than {_maxLineBytes / (1024 * 1024)} MiB; raise QmpClientOptions.MaxLineBytes if this is a real reply");
        }
    }
}
