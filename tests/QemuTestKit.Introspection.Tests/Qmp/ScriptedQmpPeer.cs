using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace QemuTestKit.Introspection.Tests.Qmp;

/// <summary>
/// A fake QMP server that accepts one connection and runs a per-test script on it, for the faults a real QEMU does
/// not produce (garbage, truncation, stalls, answers out of order). Listens on a Unix socket in a private temporary
/// directory (mode 0700, removed on dispose), or on a TCP port of 127.0.0.1.
/// </summary>
internal sealed class ScriptedQmpPeer : IAsyncDisposable
{
    private static readonly TimeSpan DisposeLimit = TimeSpan.FromSeconds(5);

    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly string? _directory;
    private readonly TaskCompletionSource<QmpPeerConnection> _accepted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private ScriptedQmpPeer(Socket listener, string? directory, string? socketPath, Func<QmpPeerConnection, CancellationToken, Task> script)
    {
        _listener = listener;
        _directory = directory;
        SocketPath = socketPath;
        Completion = Task.Run(() => RunAsync(script));
    }

    /// <summary>The Unix socket the peer listens on (null for TCP).</summary>
    public string? SocketPath { get; }

    /// <summary>The private directory holding the socket (null for TCP).</summary>
    public string? DirectoryPath => _directory;

    /// <summary>The TCP port on 127.0.0.1 (0 for Unix sockets).</summary>
    public int Port => _listener.LocalEndPoint is IPEndPoint ip ? ip.Port : 0;

    /// <summary>Completes when the script has run; faults with whatever the script threw.</summary>
    public Task Completion { get; }

    /// <summary>The accepted connection, once a client has connected.</summary>
    public Task<QmpPeerConnection> Connection => _accepted.Task;

    /// <summary>Starts a peer on a Unix socket in a fresh private directory.</summary>
    public static ScriptedQmpPeer StartUnix(Func<QmpPeerConnection, CancellationToken, Task> script)
    {
        var directory = Directory.CreateTempSubdirectory("qtk-qmp-").FullName;
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var path = Path.Combine(directory, "qmp.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
        }
        catch
        {
            listener.Dispose();
            Directory.Delete(directory, recursive: true);
            throw;
        }

        return new ScriptedQmpPeer(listener, directory, path, script);
    }

    /// <summary>Starts a peer on an ephemeral TCP port of 127.0.0.1.</summary>
    public static ScriptedQmpPeer StartTcp(Func<QmpPeerConnection, CancellationToken, Task> script)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        return new ScriptedQmpPeer(listener, directory: null, socketPath: null, script);
    }

    private async Task RunAsync(Func<QmpPeerConnection, CancellationToken, Task> script)
    {
        Socket socket;
        try
        {
            socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _accepted.TrySetException(e);
            throw;
        }

        using var connection = new QmpPeerConnection(socket);
        _accepted.TrySetResult(connection);
        await script(connection, _stop.Token).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        if (_accepted.Task.IsCompletedSuccessfully)
        {
            _accepted.Task.Result.Close();
        }

        Exception? scriptFailure = null;
        try
        {
            await Completion.WaitAsync(DisposeLimit).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The script was cut short by the client going away or by this disposal: expected.
        }
        catch (TimeoutException e)
        {
            scriptFailure = new InvalidOperationException("the scripted QMP peer did not stop within 5 s of disposal", e);
        }
        catch (Exception e)
        {
            scriptFailure = e;
        }
        finally
        {
            _stop.Dispose();
            if (_directory is not null)
            {
                try
                {
                    Directory.Delete(_directory, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }

        if (scriptFailure is not null)
        {
            throw new InvalidOperationException($"the scripted QMP peer failed: {scriptFailure.Message}", scriptFailure);
        }
    }
}

/// <summary>The server end of one QMP connection, with the moves a script makes.</summary>
internal sealed class QmpPeerConnection : IDisposable
{
    public const string GreetingJson =
        """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "scripted"}, "capabilities": ["oob"]}}""";

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private long _bytesSent;

    public QmpPeerConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>How many bytes the peer has written so far.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _bytesSent, bytes.Length);
    }

    public Task SendRawAsync(string text, CancellationToken cancellationToken)
        => SendRawAsync(Encoding.UTF8.GetBytes(text), cancellationToken);

    public Task SendLineAsync(string line, CancellationToken cancellationToken)
        => SendRawAsync(line + "\n", cancellationToken);

    public Task SendGreetingAsync(CancellationToken cancellationToken) => SendLineAsync(GreetingJson, cancellationToken);

    /// <summary>Sends the greeting, expects <c>qmp_capabilities</c> and acknowledges it.</summary>
    public async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        await SendGreetingAsync(cancellationToken).ConfigureAwait(false);
        var command = await ReadCommandAsync(cancellationToken).ConfigureAwait(false);
        command.Expect("qmp_capabilities");
        await ReplyAsync(command, new JsonObject(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads one line, or null at end of stream.</summary>
    public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        using var line = new MemoryStream();
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                line.Write(_buffer, _start, newline - _start);
                _start = newline + 1;
                return Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length);
            }

            line.Write(_buffer, _start, _end - _start);
            _start = 0;
            _end = await _stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
            if (_end == 0)
            {
                return null;
            }
        }
    }

    /// <summary>Waits until the client has sent at least one byte that is not yet read, without consuming it.</summary>
    public async Task WaitForDataAsync(CancellationToken cancellationToken)
    {
        if (_end > _start)
        {
            return;
        }

        _start = 0;
        _end = await _stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
        if (_end == 0)
        {
            throw new InvalidOperationException("the client closed the connection while the peer waited for data");
        }
    }

    /// <summary>Reads the next command the client sent.</summary>
    public async Task<PeerCommand> ReadCommandAsync(CancellationToken cancellationToken)
        => await ReadCommandOrNullAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("the client closed the connection while the peer expected a command");

    /// <summary>Reads the next command the client sent, or null when the client has closed the connection.</summary>
    public async Task<PeerCommand?> ReadCommandOrNullAsync(CancellationToken cancellationToken)
    {
        var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
        if (line is null)
        {
            return null;
        }

        var message = JsonNode.Parse(line) as JsonObject
            ?? throw new InvalidOperationException($"the client sent something that is not a JSON object: {line}");
        var execute = message["execute"]?.GetValue<string>()
            ?? throw new InvalidOperationException($"the client sent a message without 'execute': {line}");
        return new PeerCommand(execute, message["id"]?.DeepClone(), message["arguments"] as JsonObject);
    }

    public Task ReplyAsync(PeerCommand command, JsonNode? value, CancellationToken cancellationToken)
        => SendLineAsync(new JsonObject { ["return"] = value?.DeepClone(), ["id"] = command.Id?.DeepClone() }.ToJsonString(), cancellationToken);

    public Task ErrorAsync(PeerCommand command, string errorClass, string description, CancellationToken cancellationToken)
        => SendLineAsync(new JsonObject
        {
            ["error"] = new JsonObject { ["class"] = errorClass, ["desc"] = description },
            ["id"] = command.Id?.DeepClone(),
        }.ToJsonString(), cancellationToken);

    public Task SendEventAsync(string name, JsonObject? data, CancellationToken cancellationToken)
    {
        var message = new JsonObject
        {
            ["timestamp"] = new JsonObject { ["seconds"] = 1_700_000_000, ["microseconds"] = 250_000 },
            ["event"] = name,
        };
        if (data is not null)
        {
            message["data"] = data.DeepClone();
        }

        return SendLineAsync(message.ToJsonString(), cancellationToken);
    }

    /// <summary>Waits until the client closes its end (or the token fires), discarding what it sends.</summary>
    public async Task WaitForClientCloseAsync(CancellationToken cancellationToken)
    {
        while (await ReadLineAsync(cancellationToken).ConfigureAwait(false) is not null)
        {
        }
    }

    /// <summary>Does nothing until the test ends.</summary>
    public static Task StallAsync(CancellationToken cancellationToken) => Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Closes the connection (both directions).</summary>
    public void Close()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _stream.Dispose();
    }

    public void Dispose() => Close();
}

/// <summary>A command as the peer received it.</summary>
internal sealed record PeerCommand(string Execute, JsonNode? Id, JsonObject? Arguments)
{
    public PeerCommand Expect(string execute)
    {
        if (Execute != execute)
        {
            throw new InvalidOperationException($"the peer expected '{execute}' but the client sent '{Execute}'");
        }

        return this;
    }
}
