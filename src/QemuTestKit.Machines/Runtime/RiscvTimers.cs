using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Starting RISC-V guests from a ready snapshot on a QEMU that loses their timer deadlines across snapshots
/// (<see cref="RiscvSnapshotTimers"/>): let the guest settle before saving, and check each state answers.
/// </summary>
public static class RiscvTimers
{
    /// <summary>
    /// How long a RISC-V guest runs past its ready line before the ready snapshot is saved, on the first attempt (doubled
    /// on each next one). Right after the ready line the kernel still waits on short deadlines (the end of boot's
    /// deferred work); saved then, a start from the snapshot waits for them forever. Two seconds later the guest is
    /// usually idle and re-arms its timer when console input wakes it (measured on QEMU 7.2: 10 of 10 starts from one
    /// state, 7 of 7 prepared states), but on a busy machine the guest gets less done in those seconds: one state
    /// prepared at load 6.8 never answered. So each state is started once and asked a command before it is kept.
    /// </summary>
    public static readonly TimeSpan SettleBeforeSnapshot = TimeSpan.FromSeconds(2);

    /// <summary>How many times a state is prepared before preparing fails with a clear error.</summary>
    public const int Attempts = 3;

    /// <summary>How long the check start may take to answer (a good state answers in about a second, even on busy cores).</summary>
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Lets a RISC-V guest on such a QEMU settle before its ready snapshot (longer on each attempt); returns at once elsewhere.</summary>
    public static Task SettleAsync(QemuCatalog catalog, int attempt, CancellationToken cancellationToken) =>
        RiscvSnapshotTimers.LostAcrossSnapshots(catalog) ? Task.Delay(SettleBeforeSnapshot * (1 << (attempt - 1)), cancellationToken) : Task.CompletedTask;

    /// <summary>Whether a start from <paramref name="state"/> answers a command: a state that does not is prepared again.</summary>
    internal static async Task<bool> AnswersAsync(ReadyState state, MachineSpec spec, MachineStartOptions options, CancellationToken cancellationToken)
    {
        var machine = await state.StartAsync(spec, options, cancellationToken).ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            try
            {
                return (await machine.ExecAsync("true", AnswerTimeout, cancellationToken).ConfigureAwait(false)).ExitCode == 0;
            }
            catch (ConsoleTimeoutException)
            {
                return false;
            }
        }
    }
}
