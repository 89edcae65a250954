using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace QemuTestKit.Introspection.Qmp;

/// <summary>
/// An asynchronous QMP client: one connection, commands correlated by id (several may be in flight),
/// events fanned out to any number of listeners. Modelled on QEMU's python/qemu/qmp protocol layer.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Stream _input;
    private readonly Stream _output;
    private readonly IDisposable? _owner;
    private readonly QmpClientOptions _options;
    private readonly QmpLineReader _reader;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<long, PendingCommand> _pending = new();
    private readonly ConcurrentDictionary<long, byte> _abandoned = new();
    private readonly QmpEventHub _events;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource<QmpGreeting> _greeting = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextId;
    private Task? _readLoop;
    private volatile QmpException? _failure;
    private TaskCompletionSource<QmpException>? _failing;
    private int _disposed;

    private QmpClient(Stream input, Stream output, IDisposable? owner, QmpClientOptions options)
    {
        _input = input;
        _output = output;
        _owner = owner;
        _options = options;
        _reader = new QmpLineReader(input, options.MaxLineBytes);
        _events = new QmpEventHub(options.EventHistorySize, options.EventHistoryWindow);
    }

    /// <summary>The greeting QEMU sent.</summary>
    public QmpGreeting Greeting => _greeting.Task.IsCompletedSuccessfully
        ? _greeting.Task.Result
        : throw new InvalidOperationException("the QMP connection has not been negotiated yet");

    /// <summary>True until the connection drops or the client is disposed.</summary>
    public bool IsConnected => !_closed.Task.IsCompleted;

    /// <summary>Completes when the connection has closed, for whatever reason.</summary>
    public Task Closed => _closed.Task;

    /// <summary>The sequence number of the newest event received, to wait for events after this point.</summary>
    public long LastEventSequence => _events.LastSequence;

    /// <summary>Events received recently, oldest first.</summary>
    public IReadOnlyList<QmpEvent> RecentEvents => _events.Recent();

    /// <summary>Connects to a QMP server listening on a Unix socket.</summary>
    public static async Task<QmpClient> ConnectUnixAsync(string socketPath, QmpClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new QmpClientOptions();
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var timeout = Timeouts.Link(options.ConnectTimeout, cancellationToken);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new QmpTimeoutException($"connecting to the QMP socket {socketPath}", options.ConnectTimeout);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new QmpDisconnectedException($"cannot connect to the QMP socket {socketPath}: {e.Message}", inner: e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var stream = new NetworkStream(socket, ownsSocket: true);
        return await NegotiateAsync(stream, stream, stream, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Connects to a QMP server on a TCP port of 127.0.0.1 (the only address this product binds).</summary>
    public static async Task<QmpClient> ConnectTcpAsync(int port, QmpClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new QmpClientOptions();
        var client = new TcpClient(AddressFamily.InterNetwork);
        try
        {
            using var timeout = Timeouts.Link(options.ConnectTimeout, cancellationToken);
            await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            client.Dispose();
            throw new QmpTimeoutException($"connecting to QMP on 127.0.0.1:{port}", options.ConnectTimeout);
        }
        catch (SocketException e)
        {
            client.Dispose();
            throw new QmpDisconnectedException($"cannot connect to QMP on 127.0.0.1:{port}: {e.Message}", inner: e);
        }
        catch
        {
            client.Dispose();
            throw;
        }

        var stream = client.GetStream();
        return await NegotiateAsync(stream, stream, client, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Speaks QMP over a pair of streams, for example a child's stdout and stdin when QEMU runs with <c>-qmp stdio</c>.
    /// The client owns both streams.
    /// </summary>
    public static Task<QmpClient> ConnectStreamsAsync(Stream fromPeer, Stream toPeer, QmpClientOptions? options = null, CancellationToken cancellationToken = default)
        => NegotiateAsync(fromPeer, toPeer, owner: null, options ?? new QmpClientOptions(), cancellationToken);

    private static async Task<QmpClient> NegotiateAsync(Stream input, Stream output, IDisposable? owner, QmpClientOptions options, CancellationToken cancellationToken)
    {
        var client = new QmpClient(input, output, owner, options);
        try
        {
            client._readLoop = Task.Run(client.ReadLoopAsync, CancellationToken.None);
            using var timeout = Timeouts.Link(options.ConnectTimeout, cancellationToken);
            try
            {
                await client._greeting.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new QmpTimeoutException("waiting for the QMP greeting", options.ConnectTimeout);
            }

            await client.ExecuteAsync("qmp_capabilities", null, options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs a command and returns its <c>return</c> value.</summary>
    /// <exception cref="QmpErrorException">QEMU answered with an error.</exception>
    /// <exception cref="QmpTimeoutException">No answer within the timeout.</exception>
    /// <exception cref="QmpDisconnectedException">The connection dropped before the answer.</exception>
    /// <exception cref="QmpProtocolException">The peer broke the protocol.</exception>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        ThrowIfFailed();
        var id = Interlocked.Increment(ref _nextId);
        var pending = new PendingCommand(command);
        _pending[id] = pending;
        var limit = timeout ?? _options.CommandTimeout;
        using var linked = Timeouts.Link(limit, cancellationToken);
        try
        {
            var message = new JsonObject { ["execute"] = command, ["id"] = id };
            if (arguments is not null)
            {
                message["arguments"] = arguments.DeepClone();
            }

            await WriteLineAsync(message.ToJsonString(), linked.Token).ConfigureAwait(false);
            // A failure recorded while we were writing would otherwise leave this waiter unanswered.
            if (_failure is { } failure)
            {
                pending.Completion.TrySetException(failure);
            }

            return await pending.Completion.Task.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _abandoned[id] = 0;
            throw new QmpTimeoutException($"QMP command '{command}'", limit);
        }
        catch (OperationCanceledException)
        {
            _abandoned[id] = 0;
            throw;
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Runs a command and deserializes its <c>return</c> value with a source-generated contract.</summary>
    public async Task<T> ExecuteAsync<T>(string command, JsonObject? arguments, JsonTypeInfo<T> returnType, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var node = await ExecuteAsync(command, arguments, timeout, cancellationToken).ConfigureAwait(false);
        try
        {
            var value = node is null ? default : node.Deserialize(returnType);
            return value ?? throw new QmpProtocolException($"QMP command '{command}' returned null where a {typeof(T).Name} was expected");
        }
        catch (JsonException e)
        {
            throw new QmpProtocolException($"QMP command '{command}' returned a value of an unexpected shape: {e.Message}", e);
        }
    }

    /// <summary>
    /// Waits for an event. With <paramref name="afterSequence"/> only events received after that point count
    /// (take it from <see cref="LastEventSequence"/> before triggering the event); without it, an event that arrived
    /// within the history window before the call counts too.
    /// </summary>
    public async Task<QmpEvent> WaitForEventAsync(string name, TimeSpan timeout, long? afterSequence = null, Func<QmpEvent, bool>? match = null, CancellationToken cancellationToken = default)
    {
        using var listener = Listen(e => e.Name == name && (match is null || match(e)) && (afterSequence is null || e.Sequence > afterSequence),
            includeHistory: true);
        try
        {
            return await listener.ReadAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (QmpTimeoutException)
        {
            throw new QmpTimeoutException($"waiting for QMP event {name}", timeout);
        }
    }

    /// <summary>Opens a listener for events that pass <paramref name="filter"/>; dispose it to stop listening.</summary>
    public QmpEventListener Listen(Func<QmpEvent, bool>? filter = null, bool includeHistory = false)
        => _events.Listen(filter ?? (_ => true), includeHistory, () => _failure);

    /// <summary>Opens a listener for the named events.</summary>
    public QmpEventListener Listen(params string[] eventNames)
    {
        var names = new HashSet<string>(eventNames, StringComparer.Ordinal);
        return Listen(e => names.Contains(e.Name));
    }

    private async Task WriteLineAsync(string json, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(json + "\n");
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        Task write;
        try
        {
            ThrowIfFailed();
            write = WriteLockedAsync(bytes);
        }
        catch
        {
            _writeLock.Release();
            throw;
        }

        try
        {
            await write.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The caller stops waiting, but the line is finished in the background: a line cut off half way would
            // corrupt the stream for every later command. A write that never finishes ends when the client is disposed.
            _ = write.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }
    }

    /// <summary>Writes one whole line; called holding the write lock, which it releases.</summary>
    private async Task WriteLockedAsync(byte[] bytes)
    {
        try
        {
            await _output.WriteAsync(bytes, CancellationToken.None).ConfigureAwait(false);
            await _output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw await FailAsync(new QmpDisconnectedException("the QMP connection broke while sending a command", inner: e)).ConfigureAwait(false);
        }
        catch (ObjectDisposedException e)
        {
            throw _failure ?? new QmpDisconnectedException("the QMP connection is closed", inner: e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                byte[]? line;
                try
                {
                    line = await _reader.ReadLineAsync(_shutdown.Token).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    await FailAsync(new QmpDisconnectedException("the QMP connection broke", inner: e)).ConfigureAwait(false);
                    return;
                }

                if (line is null)
                {
                    await FailAsync(new QmpDisconnectedException(_greeting.Task.IsCompleted
                        ? "the QMP peer closed the connection"
                        : "the QMP peer closed the connection before sending a QMP greeting")).ConfigureAwait(false);
                    return;
                }

                if (line.AsSpan().Trim((byte)'\r').IsEmpty)
                {
                    continue;
                }

                Dispatch(line);
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            await FailAsync(new QmpDisconnectedException("the QMP client was disposed")).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            await FailAsync(new QmpDisconnectedException("the QMP client was disposed")).ConfigureAwait(false);
        }
        catch (QmpException e)
        {
            await FailAsync(e).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Whatever stops the read loop must fail the connection; a silently dead loop leaves every caller hanging.
        catch (Exception e)
#pragma warning restore CA1031
        {
            await FailAsync(new QmpProtocolException($"reading from the QMP peer failed unexpectedly: {e.Message}", e)).ConfigureAwait(false);
        }
    }

    private void Dispatch(byte[] line)
    {
        try
        {
            DispatchMessage(line);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            // A message of the wrong shape, for example a duplicate key, which JsonObject only notices on first access.
            throw new QmpProtocolException($"the QMP peer sent a message of an unexpected shape ({e.Message}): {Preview(line)}", e);
        }
    }

    private void DispatchMessage(byte[] line)
    {
        JsonObject message;
        try
        {
            message = JsonNode.Parse(line) as JsonObject
                ?? throw new QmpProtocolException($"the QMP peer sent JSON that is not an object: {Preview(line)}");
        }
        catch (JsonException e)
        {
            var what = _greeting.Task.IsCompleted ? "malformed JSON" : "something that is not a QMP greeting";
            throw new QmpProtocolException($"the QMP peer sent {what}: {Preview(line)}", e);
        }

        // An event can come before the greeting: QEMU emits events to a QMP connection it has accepted but whose
        // greeting its monitor thread has not sent yet (a RESUME at the start of a -loadvm run did, in a clean-clone run).
        if (message.TryGetPropertyValue("event", out var eventName))
        {
            _events.Publish(QmpMessageParser.ParseEvent(message, eventName, Preview(line)));
            return;
        }

        if (!_greeting.Task.IsCompleted)
        {
            _greeting.TrySetResult(QmpMessageParser.ParseGreeting(message, Preview(line)));
            return;
        }

        var id = QmpMessageParser.ReadId(message)
            ?? throw new QmpProtocolException($"the QMP peer sent a message that is neither an event nor an answer to a command: {Preview(line)}");
        if (!_pending.TryGetValue(id, out var pending))
        {
            if (_abandoned.TryRemove(id, out _))
            {
                return;
            }

            throw new QmpProtocolException($"the QMP peer answered command id {id}, which was never sent: {Preview(line)}");
        }

        if (message.TryGetPropertyValue("error", out var error))
        {
            var (errorClass, desc) = QmpMessageParser.ParseError(error, Preview(line));
            pending.Completion.TrySetException(new QmpErrorException(pending.Command, errorClass, desc));
        }
        else if (message.TryGetPropertyValue("return", out var value))
        {
            pending.Completion.TrySetResult(value?.DeepClone());
        }
        else
        {
            throw new QmpProtocolException($"the answer to '{pending.Command}' has neither 'return' nor 'error': {Preview(line)}");
        }
    }

    private async Task<QmpException> FailAsync(QmpException failure)
    {
        // The first failure wins and is recorded once: a command whose write breaks while the read loop is still
        // asking DescribePeerExit waits for that answer instead of asking again.
        var mine = new TaskCompletionSource<QmpException>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _failing, mine, null) is { } first)
        {
            return await first.Task.ConfigureAwait(false);
        }

        if (failure is QmpDisconnectedException { Peer: null } && _options.DescribePeerExit is { } describe && _disposed == 0)
        {
            QmpPeerExit? peer = null;
            try
            {
                peer = await describe().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Diagnostics are best effort: the disconnect itself is what must be reported.
            catch (Exception)
#pragma warning restore CA1031
            {
            }

            if (peer is not null)
            {
                failure = new QmpDisconnectedException(failure.Message, peer, failure.InnerException);
            }
        }

        _failure = failure;
        _greeting.TrySetException(failure);
        foreach (var pending in _pending.Values)
        {
            pending.Completion.TrySetException(failure);
        }

        _closed.TrySetResult();
        _events.Complete();
        mine.SetResult(failure);
        return failure;
    }

    private void ThrowIfFailed()
    {
        if (_failure is { } failure)
        {
            throw failure;
        }
    }

    private static string Preview(byte[] line)
    {
        const int max = 200;
        var text = Encoding.UTF8.GetString(line, 0, Math.Min(line.Length, max));
        return line.Length > max ? $"'{text}...' ({line.Length} bytes)" : $"'{text}'";
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        await FailAsync(new QmpDisconnectedException("the QMP client was disposed")).ConfigureAwait(false);
        await _input.DisposeAsync().ConfigureAwait(false);
        await _output.DisposeAsync().ConfigureAwait(false);
        _owner?.Dispose();
        if (_readLoop is not null)
        {
            try
            {
                await _readLoop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A stream that ignores cancellation cannot keep disposal waiting.
            }
        }

        _shutdown.Dispose();
        // _writeLock is not disposed: a write abandoned by a timed-out caller releases it when it ends, which may be
        // after this point. It holds no wait handle, so nothing leaks.
    }

    private sealed class PendingCommand(string command)
    {
        public string Command { get; } = command;

        public TaskCompletionSource<JsonNode?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
