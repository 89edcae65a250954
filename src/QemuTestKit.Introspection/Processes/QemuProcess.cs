using System.ComponentModel;
using System.Diagnostics;
using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Introspection.Processes;

/// <summary>
/// One running QEMU process: started from an argument array, bound to die with this process, its stderr kept
/// for error messages, and killed on disposal if still running.
/// </summary>
public sealed class QemuProcess : IAsyncDisposable
{
    private static long s_started;
    private readonly Process _process;
    private readonly OutputTail _stderr;
    private readonly OutputTail _stdout;
    private readonly Task _pumps;
    private int _disposed;

    private QemuProcess(Process process, QemuProcessStartInfo info, OutputTail stderr, OutputTail stdout, Task pumps)
    {
        _process = process;
        StartInfo = info;
        _stderr = stderr;
        _stdout = stdout;
        _pumps = pumps;
        Id = process.Id;
    }

    /// <summary>How many QEMU processes this library has started in this process (lets tests prove a cache hit started none).</summary>
    public static long StartedCount => Interlocked.Read(ref s_started);

    public QemuProcessStartInfo StartInfo { get; }

    public int Id { get; }

    public bool HasExited => _process.HasExited;

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>The last part of what QEMU wrote to stderr.</summary>
    public string StderrTail => _stderr.ToString();

    /// <summary>The last part of stdout, when stdout is not the QMP channel.</summary>
    public string StdoutTail => _stdout.ToString();

    /// <summary>QMP channel from QEMU when started with <see cref="QemuProcessStartInfo.QmpOnStdio"/>.</summary>
    public Stream StandardOutput => StartInfo.QmpOnStdio
        ? _process.StandardOutput.BaseStream
        : throw new InvalidOperationException("stdout is captured as text; start with QmpOnStdio to use it as a QMP channel");

    /// <summary>QMP channel to QEMU when started with <see cref="QemuProcessStartInfo.QmpOnStdio"/>.</summary>
    public Stream StandardInput => StartInfo.QmpOnStdio
        ? _process.StandardInput.BaseStream
        : throw new InvalidOperationException("stdin is closed; start with QmpOnStdio to use it as a QMP channel");

    /// <summary>Starts QEMU.</summary>
    /// <exception cref="QemuBinaryNotFoundException">The binary does not exist or cannot be executed.</exception>
    public static QemuProcess Start(QemuProcessStartInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        if (!File.Exists(info.Binary))
        {
            throw new QemuBinaryNotFoundException(info.Binary, $"'{info.Binary}' does not exist");
        }

        var psi = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = info.WorkingDirectory ?? string.Empty,
        };

        if (info.DieWithParent && DeathSignal.SetprivPath is { } setpriv)
        {
            psi.FileName = setpriv;
            psi.ArgumentList.Add("--pdeathsig");
            psi.ArgumentList.Add("KILL");
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(info.Binary);
        }
        else
        {
            psi.FileName = info.Binary;
        }

        foreach (var argument in info.Arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        if (info.Environment is not null)
        {
            foreach (var (key, value) in info.Environment)
            {
                psi.Environment[key] = value;
            }
        }

        Process process;
        try
        {
            process = ProcessSpawner.Start(psi);
        }
        catch (Win32Exception e)
        {
            throw new QemuBinaryNotFoundException(info.Binary, $"'{info.Binary}' cannot be executed: {e.Message}");
        }

        Interlocked.Increment(ref s_started);
        var stderr = new OutputTail(info.TailCharacters);
        var stdout = new OutputTail(info.TailCharacters);
        var pumps = new List<Task> { Task.Run(() => OutputTail.PumpAsync(process.StandardError, stderr, info.StderrLogPath)) };
        if (!info.QmpOnStdio)
        {
            process.StandardInput.Close();
            pumps.Add(Task.Run(() => OutputTail.PumpAsync(process.StandardOutput, stdout, null)));
        }

        return new QemuProcess(process, info, stderr, stdout, Task.WhenAll(pumps));
    }

    /// <summary>Waits for QEMU to exit and returns its exit code.</summary>
    /// <exception cref="TimeoutException">It did not exit in time.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var linked = Timeouts.Link(timeout, cancellationToken);
        try
        {
            await _process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"QEMU (pid {Id}) did not exit within {timeout.TotalSeconds:0.#} s");
        }

        // Let the output pumps drain so the stderr tail includes the last words.
        await Task.WhenAny(_pumps, Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None)).ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>Kills QEMU at once and waits for it to be gone.</summary>
    public async Task KillAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        try
        {
            await WaitForExitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // SIGKILL cannot be refused; a process in uninterruptible sleep will still go when the kernel lets it.
        }
    }

    /// <summary>
    /// Describes how the process ended, for a QMP disconnect: QEMU closes its QMP channel a moment before it exits,
    /// so this waits briefly for the exit code.
    /// </summary>
    public async Task<QmpPeerExit?> DescribeExitAsync()
    {
        try
        {
            await WaitForExitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        return new QmpPeerExit(StartInfo.Binary, ExitCode, TailLines(StderrTail, 20));
    }

    /// <summary>The last <paramref name="lines"/> lines of a text, for messages.</summary>
    public static string TailLines(string text, int lines)
    {
        var all = text.Replace("\r", string.Empty, StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await KillAsync().ConfigureAwait(false);
        _process.Dispose();
    }
}
