using System.Text;

namespace QemuTestKit.Introspection.Processes;

/// <summary>Keeps the last bytes of a process's output for error messages, optionally copying everything to a file.</summary>
internal sealed class OutputTail
{
    private readonly object _gate = new();
    private readonly int _capacity;
    private readonly StringBuilder _text = new();

    public OutputTail(int capacity) => _capacity = capacity;

    public void Append(string chunk)
    {
        lock (_gate)
        {
            _text.Append(chunk);
            if (_text.Length > _capacity * 2)
            {
                _text.Remove(0, _text.Length - _capacity);
            }
        }
    }

    public override string ToString()
    {
        lock (_gate)
        {
            var text = _text.ToString();
            return text.Length > _capacity ? text[^_capacity..] : text;
        }
    }

    public static async Task PumpAsync(StreamReader reader, OutputTail tail, string? copyPath)
    {
        StreamWriter? copy = null;
        try
        {
            if (copyPath is not null)
            {
                copy = new StreamWriter(copyPath, append: true) { AutoFlush = true };
            }

            var buffer = new char[4096];
            int read;
            while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                var chunk = new string(buffer, 0, read);
                tail.Append(chunk);
                if (copy is not null)
                {
                    await copy.WriteAsync(chunk).ConfigureAwait(false);
                }
            }
        }
        catch (IOException)
        {
            // The process went away; what was read is what there is.
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (copy is not null)
            {
                await copy.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
