using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection;

namespace QemuTestKit.Machines.Console;

/// <summary>
/// Runs commands through the POSIX shell on a serial console and returns their exit code and output.
/// </summary>
/// <remarks>
/// <para>
/// <b>How.</b> The first command first synchronizes with the shell: it types <c>printf '%s%s\n' QTK-S 'IDrN'</c> until
/// any <c>QTK-SIDr</c> comes back (resending now and then with the next attempt number N, in case the shell was not
/// reading yet). One id serves every attempt, so how many resends a run needed, which depends on the host's timing,
/// never changes the ids of later commands: a replay, whose host is faster or slower, expects the recording's markers
/// (a recorded run takes its ids from a deterministic <see cref="IdGenerator"/>). Each command
/// is then typed as <c>QTK_C='...'; printf BEGIN; command eval "$QTK_C" &lt;/dev/null 2&gt;&amp;1; printf END:$?</c>
/// (see <see cref="ShellScript"/>) with a fresh random id. The output is the text between the begin marker and the
/// end marker, which also carries <c>$?</c>. Markers are printed from two printf arguments, so the terminal's echo of
/// the typed line never contains them. The terminal is left as it is: echo and line editing stay on (busybox ash
/// without line editing dies when a background job ends while it waits for input), and long commands are typed in
/// pieces shorter than the line-editing limit.
/// </para>
/// <para>
/// <b>What the output is.</b> Standard output and standard error, interleaved as the console showed them; <c>\r</c>,
/// terminal escape sequences and control characters removed; trailing newlines removed. The command reads
/// /dev/null as stdin. It runs in the console shell itself: <c>cd</c> and variables persist, and <c>exit</c> ends the
/// shell (and, with the test guest, the machine).
/// </para>
/// <para>
/// <b>Kernel messages.</b> The kernel writes its messages straight to the console, even in the middle of a command's
/// output line. Output is cleaned line by line and anything matching <see cref="KernelMessageFilter"/>
/// (<c>[ seconds.micros] text</c> up to the end of the line, wherever it starts) is cut out, so the two halves of an
/// interrupted line join up again. The trade-off: a command that prints such text itself (for example <c>dmesg</c>)
/// loses those lines; set <see cref="KernelMessageFilter"/> to null for such commands, or keep the kernel quiet on the
/// console (<c>dmesg -n 1</c> in the guest's init).
/// </para>
/// <para>
/// <b>Sequential use.</b> Commands run one at a time; concurrent calls wait their turn. A command that times out (or
/// whose caller cancels) is interrupted with Ctrl-C when <see cref="InterruptOnTimeout"/> is set; its end marker, if it
/// comes later, is ignored by the next command, which has another id.
/// </para>
/// </remarks>
public sealed partial class ShellSession : IDisposable
{
    private const int TailLineCount = 20;
    private static readonly TimeSpan s_firstSyncInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_maxSyncInterval = TimeSpan.FromSeconds(8);

    private readonly SemaphoreSlim _turn = new(1, 1);
    private volatile bool _synchronized;
    private int _disposed;

    public ShellSession(SerialConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        Console = console;
    }

    public SerialConsole Console { get; }

    /// <summary>Text cut out of command output: kernel messages by default (see the remarks); null keeps everything.</summary>
    public Regex? KernelMessageFilter { get; set; } = DefaultKernelMessageFilter;

    /// <summary>Send Ctrl-C to the shell when a command times out or its caller cancels. Default true.</summary>
    public bool InterruptOnTimeout { get; set; } = true;

    /// <summary>
    /// Makes the id of each marker (16 random hex digits by default). Ids must be unique within a console's life and
    /// consist of letters and digits; a record/replay layer can make them deterministic so a replay shows the same
    /// markers as the recording.
    /// </summary>
    public Func<string> IdGenerator { get; set; } = static () => Guid.NewGuid().ToString("N")[..16];

    /// <summary>
    /// A command run before the first command, typed on the synchronization line ahead of its answer (so it costs no
    /// round trip of its own; its output and exit code are dropped); asked for at each attempt, so it can carry the
    /// time of that moment. Keep it one short line: it runs again with each resent attempt. Null: none.
    /// </summary>
    public Func<string>? SetupCommand { get; set; }

    /// <summary>True once the shell answered the synchronization.</summary>
    public bool IsSynchronized => _synchronized;

    /// <summary>A kernel console message: <c>[    1.234567] text</c> up to and including the end of its line.</summary>
    public static Regex DefaultKernelMessageFilter => KernelMessagePattern();

    /// <summary>Synchronizes with the shell now rather than on the first command.</summary>
    /// <exception cref="ConsoleTimeoutException">The shell did not answer within <paramref name="timeout"/>.</exception>
    public async Task SynchronizeAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var linked = Timeouts.Link(timeout, cancellationToken);
            await RunGuardedAsync("synchronizing with the shell", timeout, linked, async () =>
            {
                await SyncAsync(linked.Token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Runs <paramref name="command"/> and waits for it to finish.</summary>
    /// <exception cref="ConsoleTimeoutException">It did not finish within <paramref name="timeout"/> (which includes the
    /// first synchronization); the message has the console tail.</exception>
    /// <exception cref="ConsoleClosedException">The console closed (QEMU exited) before it finished.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<ExecResult> ExecAsync(string command, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var linked = Timeouts.Link(timeout, cancellationToken);
            return await RunGuardedAsync($"command '{ConsoleException.Shorten(command)}'", timeout, linked, async () =>
            {
                if (!_synchronized)
                {
                    await SyncAsync(linked.Token).ConfigureAwait(false);
                }

                return await ExecCoreAsync(command, linked.Token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _turn.Release();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _turn.Dispose();
        }
    }

    private async Task<T> RunGuardedAsync<T>(string what, TimeSpan timeout, CancellationTokenSource linked, Func<Task<T>> action, CancellationToken callerToken)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (linked.IsCancellationRequested)
        {
            await InterruptAsync().ConfigureAwait(false);
            if (callerToken.IsCancellationRequested)
            {
                throw;
            }

            var why = _synchronized ? string.Empty : " (the shell on the console never answered: is a shell running there?)";
            throw new ConsoleTimeoutException($"{what} did not finish within {ConsoleException.Seconds(timeout)}{why}", timeout, Console.Tail(TailLineCount), e);
        }
        catch (ConsoleClosedException e)
        {
            throw new ConsoleClosedException($"the serial console closed (QEMU exited?) during {what}", Console.Tail(TailLineCount), e);
        }
    }

    private async Task InterruptAsync()
    {
        if (!InterruptOnTimeout || Console.Closed.IsCompleted)
        {
            return;
        }

        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await Console.SendAsync("\u0003", limit.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ConsoleException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
            // Best effort: the command is abandoned either way.
        }
    }

    private async Task SyncAsync(CancellationToken cancellationToken)
    {
        var follower = new ConsoleFollower(Console, KernelMessageFilter);
        var id = NewId();
        // The answer to any attempt, including one this host has not sent yet: a replay that runs ahead of the
        // recording's clock prints the recording's later attempts before this host would have typed them.
        var answer = ShellScript.SyncTag + ShellScript.SyncAttempt(id, string.Empty);
        var interval = s_firstSyncInterval;
        var searchFrom = 0;
        for (var number = 1; ; number++)
        {
            await Console.SendAsync(ShellScript.Sync(ShellScript.SyncAttempt(id, number.ToString(CultureInfo.InvariantCulture)), SetupCommand?.Invoke()),
                cancellationToken).ConfigureAwait(false);
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(interval);
            try
            {
                while (true)
                {
                    follower.Pull();
                    if (follower.IndexOf(answer, searchFrom) >= 0)
                    {
                        _synchronized = true;
                        Console.SearchStart = follower.RawEndOf(answer);
                        return;
                    }

                    searchFrom = Math.Max(0, follower.Clean.Length - answer.Length);
                    await follower.WaitAsync(attempt.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, s_maxSyncInterval.Ticks));
            }
        }
    }

    private async Task<ExecResult> ExecCoreAsync(string command, CancellationToken cancellationToken)
    {
        var id = NewId();
        var script = ShellScript.Exec(command, id);
        var follower = new ConsoleFollower(Console, KernelMessageFilter);
        var stopwatch = Stopwatch.StartNew();
        await Console.SendAsync(script, cancellationToken).ConfigureAwait(false);

        var begin = ShellScript.BeginMarker(id);
        var beginAt = await follower.FindAsync(begin, 0, cancellationToken).ConfigureAwait(false);
        var outputStart = beginAt + begin.Length;

        var end = ShellScript.EndMarker(id);
        var endAt = await follower.FindAsync(end, outputStart, cancellationToken).ConfigureAwait(false);
        var codeStart = endAt + end.Length;
        var newline = await follower.FindAsync("\n", codeStart, cancellationToken).ConfigureAwait(false);
        var duration = stopwatch.Elapsed;

        var codeText = follower.Clean.ToString(codeStart, newline - codeStart);
        if (!int.TryParse(codeText, NumberStyles.None, CultureInfo.InvariantCulture, out var exitCode))
        {
            throw new FormatException($"the end marker of command '{ConsoleException.Shorten(command)}' carries no exit status: '{codeText}'");
        }

        var output = endAt > outputStart ? follower.Clean.ToString(outputStart, endAt - outputStart).TrimEnd('\n') : string.Empty;
        Console.SearchStart = follower.RawEndOf($"{ShellScript.EndTag}{id}:");
        return new ExecResult(exitCode, output, duration);
    }

    private string NewId()
    {
        var id = IdGenerator();
        if (string.IsNullOrEmpty(id) || !id.All(char.IsAsciiLetterOrDigit))
        {
            throw new InvalidOperationException($"ShellSession.IdGenerator returned '{id}': ids must be non-empty letters and digits");
        }

        return id;
    }

    [GeneratedRegex(@"\[ *\d+\.\d{6}\] [^\n]*\n", RegexOptions.CultureInvariant)]
    private static partial Regex KernelMessagePattern();

    /// <summary>Follows the console from its search start, keeping a cleaned copy of what arrives.</summary>
    private sealed class ConsoleFollower
    {
        private readonly SerialConsole _console;
        private readonly ConsoleLineCleaner _cleaner;
        private readonly long _rawStart;

        public ConsoleFollower(SerialConsole console, Regex? filter)
        {
            _console = console;
            _cleaner = new ConsoleLineCleaner(filter);
            // From where the last command (or match) ended, not from the end: what the guest printed since belongs to
            // what comes next, and a replay from a checkpoint shows the recording's earlier output all at once
            // (markers are unique, so nothing older is mistaken for this command's).
            _rawStart = Math.Min(console.SearchStart, console.Transcript.TextLength);
            RawPosition = _rawStart;
        }

        /// <summary>Cleaned text of the complete lines received since the follower started.</summary>
        public StringBuilder Clean { get; } = new();

        /// <summary>Transcript text offset up to which text has been pulled.</summary>
        public long RawPosition { get; private set; }

        public void Pull()
        {
            var raw = _console.Transcript.GetText(RawPosition);
            if (raw.Length == 0)
            {
                return;
            }

            RawPosition += raw.Length;
            Clean.Append(_cleaner.Feed(raw));
        }

        public Task WaitAsync(CancellationToken cancellationToken) => _console.WaitForTextBeyondAsync(RawPosition, cancellationToken);

        public int IndexOf(string value, int from)
        {
            from = Math.Max(0, from);
            if (Clean.Length - from < value.Length)
            {
                return -1;
            }

            var found = Clean.ToString(from, Clean.Length - from).IndexOf(value, StringComparison.Ordinal);
            return found < 0 ? -1 : from + found;
        }

        public async Task<int> FindAsync(string value, int from, CancellationToken cancellationToken)
        {
            while (true)
            {
                Pull();
                var found = IndexOf(value, from);
                if (found >= 0)
                {
                    return found;
                }

                from = Math.Max(from, Clean.Length - value.Length + 1);
                await WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>
        /// The transcript offset just past the line holding <paramref name="marker"/> in the raw text, or the pulled
        /// position when the raw text does not contain it literally (a kernel message split it).
        /// </summary>
        public long RawEndOf(string marker)
        {
            var raw = _console.Transcript.GetText(_rawStart);
            raw = raw[..(int)Math.Min(raw.Length, RawPosition - _rawStart)];
            var at = raw.IndexOf(marker, StringComparison.Ordinal);
            var newline = at < 0 ? -1 : raw.IndexOf('\n', at);
            return newline < 0 ? RawPosition : _rawStart + newline + 1;
        }
    }
}
