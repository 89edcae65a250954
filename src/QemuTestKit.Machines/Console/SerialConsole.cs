using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection;
using Microsoft.Win32.SafeHandles;

namespace QemuTestKit.Machines.Console;

/// <summary>
/// The host side of one guest serial port. A local QEMU reaches it through a pipe pair (<see cref="OpenPipe"/>,
/// <c>-chardev pipe,id=serial0,path=BASE</c>): the guest's output goes to a regular file the host reads as it grows, so
/// QEMU never waits for the host and a recording does not depend on how fast the host reads (see SerialPipe). A replay
/// listens on a Unix socket QEMU connects to (<see cref="Listen"/>; it writes each byte whole, so a late reader only
/// slows it); a QEMU in a container serves TCP (<see cref="ConnectTcpAsync"/>). Everything received is kept in <see cref="Transcript"/>.
/// </summary>
/// <remarks>
/// Reading runs continuously in the background from <see cref="StartReading"/> or <see cref="AcceptAsync"/> until QEMU
/// has exited (pipe) or the connection closes (socket).
/// WaitForAsync may be called from several tasks at once; sends are serialized.
/// </remarks>
public sealed class SerialConsole : IAsyncDisposable
{
    private const int ReceiveBufferBytes = 64 * 1024;
    private const int TailLineCount = 20;

    // Rescanning a long text for every few bytes received would be quadratic: a scan that found nothing is repeated
    // at once only when the searched text grew by a quarter, otherwise after a pause of at least 10 ms that grows
    // with the length of the searched text (1 ms per 20,000 characters).
    private const double RescanCharactersPerMillisecond = 20_000;
    private static readonly TimeSpan s_rescanPause = TimeSpan.FromMilliseconds(10);

    private readonly Socket? _listener;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Socket? _socket;
    private Task? _readLoop;
    private FileStream? _pipeInput;
    private SafeFileHandle? _pipeOutput;
    private Thread? _pipeReader;
    private Task? _qemuExited;
    private long _outputRead;
    private long _searchStart;
    private int _disposed;

    private SerialConsole(Socket? listener, string socketPath, ConsoleTranscript transcript)
    {
        _listener = listener;
        SocketPath = socketPath;
        Transcript = transcript;
    }

    /// <summary>Where QEMU reaches this port: the pipe pair's base path, the Unix socket, or <c>tcp:HOST:PORT</c>.</summary>
    public string SocketPath { get; }

    /// <summary>Everything received from the guest.</summary>
    public ConsoleTranscript Transcript { get; }

    /// <summary>True between a successful <see cref="AcceptAsync"/> and the end of the connection.</summary>
    public bool IsConnected => (_socket is not null || _pipeReader is not null) && !_closed.Task.IsCompleted;

    /// <summary>Completes when the connection has closed (QEMU exited or closed the port) or the console was disposed.</summary>
    public Task Closed => _closed.Task;

    /// <summary>
    /// Text offset where WaitForAsync starts searching when no offset is given: the end of the last
    /// match, or of the last command a <see cref="ShellSession"/> ran. May be set, for example to
    /// <see cref="ConsoleTranscript.TextLength"/> to ignore everything received so far.
    /// </summary>
    public long SearchStart
    {
        get => Interlocked.Read(ref _searchStart);
        set => Interlocked.Exchange(ref _searchStart, Math.Max(0, value));
    }

    /// <summary>Creates the socket and listens on it, so QEMU can be started next.</summary>
    /// <exception cref="IOException">The socket cannot be created (the path is too long, or exists).</exception>
    public static SerialConsole Listen(string socketPath, ConsoleTranscript? transcript = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        socketPath = Path.GetFullPath(socketPath);
        if (!UnixSocketPath.Fits(socketPath))
        {
            throw new IOException("cannot listen on a serial console socket: " + UnixSocketPath.TooLong(socketPath, "Use a shorter path."));
        }

        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            listener.Listen(1);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new IOException($"cannot listen on the serial console socket {socketPath}: {e.Message}", e);
        }

        return new SerialConsole(listener, socketPath, transcript ?? new ConsoleTranscript());
    }

    /// <summary>
    /// Creates the pipe pair at <paramref name="basePath"/> (<c>BASE.in</c>, a FIFO for input; <c>BASE.out</c>, a regular
    /// file for output) for <c>-chardev pipe,path=BASE</c>, so QEMU can be started next; then call <see cref="StartReading"/>.
    /// </summary>
    /// <exception cref="IOException">The files cannot be created (for example they exist).</exception>
    public static SerialConsole OpenPipe(string basePath, ConsoleTranscript? transcript = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(basePath);
        basePath = Path.GetFullPath(basePath);
        var (input, output) = SerialPipe.Create(basePath);
        return new SerialConsole(null, basePath, transcript ?? new ConsoleTranscript()) { _pipeInput = input, _pipeOutput = output };
    }

    /// <summary>
    /// Starts reading a pipe console (<see cref="OpenPipe"/>) once QEMU runs. It reads until <paramref name="qemuExited"/>
    /// has completed and every byte QEMU wrote is in the transcript; then <see cref="Closed"/> completes.
    /// </summary>
    public void StartReading(Task qemuExited)
    {
        ArgumentNullException.ThrowIfNull(qemuExited);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_pipeOutput is null || _pipeReader is not null)
        {
            throw new InvalidOperationException($"the serial console {SocketPath} is not an unread pipe console");
        }

        _qemuExited = qemuExited;
        _pipeReader = new Thread(PipeReadLoop) { IsBackground = true, Name = "serial " + Path.GetFileName(SocketPath) };
        _pipeReader.Start();
    }

    /// <summary>
    /// Connects to a serial port that QEMU serves on TCP (<c>-chardev socket,host=...,port=N,server=on</c>), for a QEMU
    /// that is not a local process (a container publishes the port on 127.0.0.1), and starts reading. The caller makes
    /// sure QEMU is listening and the guest has not run yet (start it paused), or early output is lost.
    /// </summary>
    /// <exception cref="ConsoleClosedException">The connection was refused.</exception>
    public static async Task<SerialConsole> ConnectTcpAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        var name = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"tcp:{host}:{port}");
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var linked = Timeouts.Link(timeout, cancellationToken);
        try
        {
            await socket.ConnectAsync(host, port, linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new ConsoleClosedException($"cannot connect to the serial console {name}: {e.Message}", string.Empty, e);
        }

        var console = new SerialConsole(null, name, new ConsoleTranscript()) { _socket = socket };
        console._readLoop = Task.Run(console.ReadLoopAsync, CancellationToken.None);
        return console;
    }

    /// <summary>Waits for QEMU to connect, then starts reading.</summary>
    /// <exception cref="ConsoleTimeoutException">QEMU did not connect in time.</exception>
    public async Task AcceptAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_socket is not null)
        {
            throw new InvalidOperationException($"the serial console {SocketPath} is already connected");
        }

        using var linked = Timeouts.Link(timeout, cancellationToken);
        using var stop = linked.Token.Register(static s => ((SerialConsole)s!).StopListening(), this);
        Socket socket;
        try
        {
            socket = await _listener!.AcceptAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (linked.IsCancellationRequested)
            {
                throw new ConsoleTimeoutException(
                    $"QEMU did not connect to the serial console socket {SocketPath} within {ConsoleException.Seconds(timeout)}", timeout, string.Empty, e);
            }

            throw new ConsoleClosedException($"listening on the serial console socket {SocketPath} failed: {e.Message}", string.Empty, e);
        }

        _socket = socket;
        StopListening();
        _readLoop = Task.Run(ReadLoopAsync, CancellationToken.None);
    }

    /// <summary>
    /// Waits until the console text matches <paramref name="pattern"/>, searching from <see cref="SearchStart"/>.
    /// See <see cref="WaitForAsync(Regex, TimeSpan, long, CancellationToken)"/>.
    /// </summary>
    public Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        WaitForAsync(pattern, timeout, SearchStart, cancellationToken);

    /// <summary>
    /// Waits until the console text matches <paramref name="pattern"/>, searching from <paramref name="fromOffset"/>
    /// (a character offset in <see cref="ConsoleTranscript.Text"/>; the other overload starts at <see cref="SearchStart"/>).
    /// On success <see cref="SearchStart"/> moves to the end of the match. The match is made against the raw text
    /// (escape sequences and <c>\r</c> included); anchors such as <c>^</c> need <see cref="RegexOptions.Multiline"/>.
    /// </summary>
    /// <returns>The match; its <see cref="Capture.Index"/> is an offset in the whole transcript text.</returns>
    /// <exception cref="ConsoleTimeoutException">No match within <paramref name="timeout"/>; the message has the console tail.</exception>
    /// <exception cref="ConsoleClosedException">The connection closed before a match.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout, long fromOffset, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentOutOfRangeException.ThrowIfNegative(fromOffset);
        var start = fromOffset;
        EnsureAccepted();
        using var linked = Timeouts.Link(timeout, cancellationToken);
        long scanned = -1;
        var lastScan = 0L;
        var pause = s_rescanPause;
        try
        {
            while (true)
            {
                var closed = _closed.Task.IsCompleted;
                var length = Transcript.TextLength;
                if (length != scanned)
                {
                    if (start <= length && Find(pattern, start) is { } match)
                    {
                        SearchStart = match.Index + match.Length;
                        return match;
                    }

                    scanned = length;
                    lastScan = Stopwatch.GetTimestamp();
                    pause = TimeSpan.FromMilliseconds(Math.Max(s_rescanPause.TotalMilliseconds, (length - start) / RescanCharactersPerMillisecond));
                }

                if (closed)
                {
                    throw new ConsoleClosedException(
                        $"the serial console {Path.GetFileName(SocketPath)} closed (QEMU exited?) while waiting for /{pattern}/", Transcript.Tail(TailLineCount));
                }

                await Task.WhenAny(Transcript.WhenTextBeyond(scanned), _closed.Task).WaitAsync(linked.Token).ConfigureAwait(false);
                var since = Stopwatch.GetElapsedTime(lastScan);
                if (since < pause && (Transcript.TextLength - scanned) * 4 < scanned - start && !_closed.Task.IsCompleted)
                {
                    await Task.WhenAny(Task.Delay(pause - since, linked.Token), _closed.Task).ConfigureAwait(false);
                    linked.Token.ThrowIfCancellationRequested();
                }
            }
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && linked.IsCancellationRequested)
        {
            throw new ConsoleTimeoutException(
                $"the serial console {Path.GetFileName(SocketPath)} did not show /{pattern}/ within {ConsoleException.Seconds(timeout)}", timeout,
                Transcript.Tail(TailLineCount), e);
        }
    }

    /// <summary>Waits for a literal text from <see cref="SearchStart"/>; see <see cref="WaitForAsync(Regex, TimeSpan, long, CancellationToken)"/>.</summary>
    public Task<Match> WaitForAsync(string text, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return WaitForAsync(new Regex(Regex.Escape(text), RegexOptions.CultureInvariant), timeout, SearchStart, cancellationToken);
    }

    /// <summary>Sends text as UTF-8, exactly as given (no newline added).</summary>
    /// <exception cref="ConsoleClosedException">The connection is closed.</exception>
    public Task SendAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        return SendAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
    }

    /// <summary>Sends <paramref name="line"/> followed by <c>\n</c>.</summary>
    public Task SendLineAsync(string line, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(line);
        return SendAsync(line + "\n", cancellationToken);
    }

    /// <summary>
    /// When set, input is sent in pieces of this many bytes, each after the guest has answered the previous one (its
    /// echo) or <see cref="InputPaceTimeout"/> has passed. Record mode needs it: QEMU queues recorded serial input as
    /// replay events and keeps reading the socket meanwhile, so a line longer than the UART's 16-byte FIFO loses bytes.
    /// </summary>
    public int? InputPaceBytes { get; set; }

    /// <summary>
    /// Called while a paced send waits for its echo. Under icount QEMU's main loop can sleep with typed bytes still in
    /// the socket; any QMP command wakes it (a "nudge"), so the machine passes one here.
    /// </summary>
    public Func<CancellationToken, Task>? Nudge { get; set; }

    /// <summary>
    /// While something waits for output and none has come for this long, <see cref="Nudge"/> QEMU (null: never). A
    /// replay under icount can sleep with output pending; the CLI's replay polls QMP, a test reading the console does not.
    /// </summary>
    public TimeSpan? NudgeWhileWaiting { get; set; }

    /// <summary>How long a paced send waits for the guest's echo before sending the next piece anyway.</summary>
    public TimeSpan InputPaceTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Sends raw bytes. Blocks (asynchronously) while the guest does not read its input.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        if (InputPaceBytes is { } pace && bytes.Length > pace)
        {
            for (var start = 0; start < bytes.Length; start += pace)
            {
                var piece = bytes.Slice(start, Math.Min(pace, bytes.Length - start));
                var baseline = Transcript.TextLength;
                await SendAsync(piece, cancellationToken).ConfigureAwait(false);
                await WaitForEchoAsync(piece, baseline, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        var socket = EnsureAccepted();
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_closed.Task.IsCompleted || _qemuExited?.IsCompleted == true)
            {
                throw ClosedWhileSending(null);
            }

            if (_pipeInput is not null)
            {
                await _pipeInput.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                return;
            }

            while (!bytes.IsEmpty && socket is not null)
            {
                var sent = await socket.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                bytes = bytes[sent..];
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            throw ClosedWhileSending(e);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>
    /// Waits until every byte QEMU has written to the socket is in the transcript (the socket has nothing left to read
    /// and the transcript stopped growing). Meaningful while the guest is stopped.
    /// </summary>
    public async Task WaitForInputDrainedAsync(CancellationToken cancellationToken = default)
    {
        var socket = EnsureAccepted();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        var last = -1L;
        while (DateTime.UtcNow < deadline)
        {
            var length = Transcript.Length;
            var pending = _closed.Task.IsCompleted ? 0
                : socket is not null ? socket.Available
                : RandomAccess.GetLength(_pipeOutput!) - Interlocked.Read(ref _outputRead);
            if (pending == 0 && length == last)
            {
                return;
            }

            last = length;
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits until the guest has echoed the printable part of <paramref name="piece"/> (so it has read it from the
    /// FIFO), or <see cref="InputPaceTimeout"/> passes: the guest may not echo at all, and then the timeout paces.
    /// Matching the text, not counting bytes, keeps a prompt or an escape sequence arriving meanwhile from passing
    /// for the echo.
    /// </summary>
    private async Task WaitForEchoAsync(ReadOnlyMemory<byte> piece, long baseline, CancellationToken cancellationToken)
    {
        var visible = new string(Encoding.UTF8.GetString(piece.Span).Where(c => !char.IsControl(c)).ToArray());
        using var echo = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        echo.CancelAfter(InputPaceTimeout);
        try
        {
            while (true)
            {
                var seen = Transcript.TextLength;
                if (seen > baseline && (visible.Length == 0 || Transcript.GetText(baseline).Contains(visible, StringComparison.Ordinal)))
                {
                    return;
                }

                using var tick = CancellationTokenSource.CreateLinkedTokenSource(echo.Token);
                tick.CancelAfter(TimeSpan.FromMilliseconds(50));
                try
                {
                    await WaitForTextBeyondAsync(seen, tick.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!echo.IsCancellationRequested && Nudge is { } nudge)
                {
                    await nudge(echo.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // No echo in time (the guest may not echo at all): the timeout itself paced the input.
        }
    }

    /// <summary>The last lines of the console, sanitized, for messages.</summary>
    public string Tail(int lines = TailLineCount) => Transcript.Tail(lines);

    /// <summary>
    /// Completes once the transcript text is longer than <paramref name="textLength"/> characters; throws
    /// <see cref="ConsoleClosedException"/> when the connection has closed and no more text will come.
    /// </summary>
    internal async Task WaitForTextBeyondAsync(long textLength, CancellationToken cancellationToken)
    {
        while (true)
        {
            var closed = _closed.Task.IsCompleted;
            if (Transcript.TextLength > textLength)
            {
                return;
            }

            if (closed)
            {
                throw new ConsoleClosedException($"the serial console {Path.GetFileName(SocketPath)} closed (QEMU exited?)", Transcript.Tail(TailLineCount));
            }

            var arrived = Task.WhenAny(Transcript.WhenTextBeyond(textLength), _closed.Task);
            if (NudgeWhileWaiting is { } quiet && Nudge is { } nudge)
            {
                try
                {
                    await arrived.WaitAsync(quiet, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    await nudge(cancellationToken).ConfigureAwait(false);
                }

                continue;
            }

            await arrived.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Matches against the text from <paramref name="start"/> (a copy of that part only); on success, matches again
    /// against the whole text from <paramref name="start"/>, so that the match's index is a transcript offset.
    /// </summary>
    private Match? Find(Regex pattern, long start)
    {
        if (!pattern.IsMatch(Transcript.GetText(start)))
        {
            return null;
        }

        var match = pattern.Match(Transcript.Snapshot(), (int)start);
        return match.Success ? match : null;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        StopListening();
        _socket?.Dispose();
        if (_readLoop is not null)
        {
            await _readLoop.ConfigureAwait(false);
        }

        if (_pipeReader is not null)
        {
            await _closed.Task.ConfigureAwait(false); // the reader sees the cancellation within its next poll
        }

        _closed.TrySetResult();
        _pipeInput?.Dispose();
        _pipeOutput?.Dispose();
        _shutdown.Dispose();
        _sendLock.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var socket = _socket!;
        var buffer = new byte[ReceiveBufferBytes];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, _shutdown.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                Transcript.Append(buffer.AsSpan(0, read));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Closed by QEMU or by DisposeAsync; either way the connection is over.
        }
        finally
        {
            _closed.TrySetResult();
        }
    }

    /// <summary>
    /// Reads the output file as it grows. A regular file never signals new data, so the reader polls: every millisecond
    /// while output came in the last <see cref="s_pollBusyFor"/>, then every 5 ms (the file is read to its end each time).
    /// </summary>
    private void PipeReadLoop()
    {
        var buffer = new byte[ReceiveBufferBytes];
        var lastData = Stopwatch.GetTimestamp();
        try
        {
            while (!_shutdown.IsCancellationRequested)
            {
                // Whether QEMU had exited is read before the file: what it wrote before exiting is read below.
                var exited = _qemuExited!.IsCompleted;
                var read = RandomAccess.Read(_pipeOutput!, buffer, Interlocked.Read(ref _outputRead));
                if (read > 0)
                {
                    Transcript.Append(buffer.AsSpan(0, read));
                    Interlocked.Add(ref _outputRead, read);
                    lastData = Stopwatch.GetTimestamp();
                    continue;
                }

                if (exited)
                {
                    break;
                }

                Thread.Sleep(Stopwatch.GetElapsedTime(lastData) < s_pollBusyFor ? 1 : 5);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The file went away with its run directory: the console is over.
        }
        finally
        {
            _closed.TrySetResult();
        }
    }

    private static readonly TimeSpan s_pollBusyFor = TimeSpan.FromMilliseconds(200);

    /// <summary>The socket of a socket console; null for a pipe console.</summary>
    private Socket? EnsureAccepted()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_pipeReader is not null)
        {
            return null;
        }

        return _socket ?? throw new InvalidOperationException(
            $"the serial console {SocketPath} is not connected yet: call {(_pipeOutput is not null ? "StartReading" : "AcceptAsync")} first");
    }

    private ConsoleClosedException ClosedWhileSending(Exception? inner) =>
        new($"cannot send to the serial console {Path.GetFileName(SocketPath)}: the connection is closed (QEMU exited?)", Transcript.Tail(TailLineCount), inner);

    private void StopListening()
    {
        if (_listener is null)
        {
            return; // a TCP client console (ConnectTcpAsync) has no listener and no socket file
        }

        try
        {
            _listener.Dispose();
        }
        catch (SocketException)
        {
        }

        try
        {
            File.Delete(SocketPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
