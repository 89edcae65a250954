using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Introspection.Processes;

/// <summary>A QEMU started only to be asked questions over <see cref="Qmp"/>; disposal stops it.</summary>
public interface IQemuProbeSession : IAsyncDisposable
{
    QmpClient Qmp { get; }
}

/// <summary>
/// A paused QEMU with QMP on stdio, started only to be asked questions: no guest code runs (<c>-S</c>), no default
/// devices, no display. Disposal quits it over QMP and kills it if that does not work.
/// </summary>
public sealed class QemuProbeSession : IQemuProbeSession
{
    /// <summary>The arguments every probe starts with, before its machine arguments (QMP comes last, where it is served).</summary>
    public static readonly IReadOnlyList<string> ProbeArguments = ["-nodefaults", "-display", "none", "-S", "-no-user-config"];

    private int _disposed;

    private QemuProbeSession(QemuProcess process, QmpClient qmp)
    {
        Process = process;
        Qmp = qmp;
    }

    public QemuProcess Process { get; }

    public QmpClient Qmp { get; }

    /// <summary>Starts <paramref name="binary"/> paused with the given machine arguments and negotiates QMP.</summary>
    /// <exception cref="QemuProbeException">The binary is not a QEMU system emulator, exited, or did not answer in time.</exception>
    public static async Task<QemuProbeSession> StartAsync(string binary, IReadOnlyList<string> machineArguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var arguments = new List<string>(ProbeArguments) { "-qmp", "stdio" };
        arguments.AddRange(machineArguments);
        var process = QemuProcess.Start(new QemuProcessStartInfo(binary, arguments) { QmpOnStdio = true });
        try
        {
            var options = new QmpClientOptions
            {
                ConnectTimeout = timeout,
                CommandTimeout = timeout,
                DescribePeerExit = process.DescribeExitAsync,
            };
            var qmp = await QmpClient.ConnectStreamsAsync(process.StandardOutput, process.StandardInput, options, cancellationToken).ConfigureAwait(false);
            return new QemuProbeSession(process, qmp);
        }
        catch (QmpDisconnectedException e)
        {
            await process.DisposeAsync().ConfigureAwait(false);
            var exit = e.ExitCode is { } code ? $"exited with code {code}" : "closed its output";
            if (string.IsNullOrWhiteSpace(e.StderrTail))
            {
                throw new QemuProbeException($"'{binary}' is not a usable QEMU system emulator: it {exit} before speaking QMP", e);
            }

            throw new QemuProbeException($"'{binary}' {exit} before speaking QMP: {QemuProcess.TailLines(e.StderrTail, 5)}", e);
        }
        catch (QmpProtocolException e)
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw new QemuProbeException($"'{binary}' is not a QEMU system emulator: {e.Message}", e);
        }
        catch (QmpTimeoutException e)
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw new QemuProbeException($"'{binary}' did not answer over QMP within {timeout.TotalSeconds:0.#} s; is it a QEMU system emulator?", e);
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Idempotent: a walk that fails mid-way can reach the same session from two finally blocks.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await QuitAsync(Qmp).ConfigureAwait(false);
        try
        {
            await Process.WaitForExitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        await Process.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Asks a probe's QEMU to quit and closes <paramref name="qmp"/>. QEMU may close the channel before it answers;
    /// whoever owns the process (or container) stops it for good after this.
    /// </summary>
    public static async ValueTask QuitAsync(QmpClient qmp)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        if (qmp.IsConnected)
        {
            try
            {
                await qmp.ExecuteAsync("quit", timeout: TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (QmpException)
            {
                // Closed before answering, or never answered: the owner's kill covers every case.
            }
        }

        await qmp.DisposeAsync().ConfigureAwait(false);
    }
}
