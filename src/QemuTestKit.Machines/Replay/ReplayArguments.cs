using QemuTestKit.Machines.CommandLine;

namespace QemuTestKit.Machines.Replay;

/// <summary>What every replay changes in a bundle's recorded replay arguments, wherever QEMU runs.</summary>
public static class ReplayArguments
{
    /// <summary>
    /// A <paramref name="snapshot"/> (a checkpoint, or the start snapshot of a replay that seeks into one) QEMU loads
    /// through <c>rrsnapshot</c> (which also positions the replay log, and spares the snapshot QEMU would otherwise save
    /// when gdb attaches), not <c>-loadvm</c>; null keeps the recorded <c>-loadvm</c>. A gdb stub is served on
    /// <paramref name="gdbStub"/> (a <c>-gdb</c> value); <paramref name="paused"/> adds <c>-S</c>.
    /// </summary>
    public static List<string> Finish(IReadOnlyList<string> recorded, string? snapshot, string? gdbStub, bool paused)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        var arguments = new List<string>(recorded);
        if (snapshot is not null)
        {
            var loadvm = arguments.IndexOf("-loadvm");
            if (loadvm >= 0)
            {
                arguments.RemoveRange(loadvm, 2);
            }

            var icount = arguments.IndexOf("-icount") + 1;
            if (icount == 0)
            {
                throw new ReplayException("the bundle's replay arguments have no -icount: the bundle is damaged");
            }

            arguments[icount] = QemuOptionValue.Join(arguments[icount], ("rrsnapshot", snapshot));
        }

        if (gdbStub is not null)
        {
            arguments.AddRange(["-gdb", gdbStub]);
        }

        if (paused)
        {
            arguments.Add("-S");
        }

        return arguments;
    }
}
