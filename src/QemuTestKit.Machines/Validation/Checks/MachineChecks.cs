using System.Globalization;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>The machine as a whole: its name, architecture, machine type, CPU model and sizes.</summary>
internal static partial class MachineChecks
{
    public static void Check(ValidationRun run)
    {
        CheckName(run);
        CheckArchitecture(run);
        var machine = CheckMachineType(run);
        CheckCpu(run);
        CheckMemory(run);
        CheckSmp(run, machine);
    }

    // The name becomes part of ids, file names and directory names, so it must be safe in all of them.
    private static void CheckName(ValidationRun run)
    {
        var name = run.Spec.Name;
        if (!MachineNames.IsUsable(name))
        {
            run.Errors.Add(MachineSpecErrorCodes.InvalidName, "Name", name, $"is not a usable machine name: {MachineNames.Rule}", MachineNames.Pattern);
        }
    }

    // The binary decides the architecture; a declared one that says otherwise would be written into every spec and bundle.
    private static void CheckArchitecture(ValidationRun run)
    {
        if (run.Spec.Architecture is not { } declared || string.IsNullOrEmpty(run.Catalog.Target) || declared == run.Catalog.Target)
        {
            return;
        }

        var binary = run.Spec.Qemu is null ? $"Qemu to the path of a real {declared} emulator" : $"Qemu to a {declared} emulator such as qemu-system-{declared}";
        run.Errors.Add(MachineSpecErrorCodes.ArchitectureMismatch, "Architecture", declared,
            $"is not the target of {run.Errors.Emulator}, which emulates {run.Catalog.Target}: leave Architecture out (the binary decides it) or set {binary}",
            run.Catalog.Target);
    }

    private static MachineType? CheckMachineType(ValidationRun run)
    {
        var found = run.Spec.MachineType;
        var machine = run.Catalog.FindMachine(found);
        if (machine is null)
        {
            run.Errors.Add(MachineSpecErrorCodes.UnknownMachineType, "MachineType", found, $"is not a machine of {run.Errors.Emulator}",
                $"a machine type or alias of {run.Errors.Emulator}", MachineTypeSuggestions.Suggest(found, run.Catalog), run.Errors.IntrospectHint);
        }
        else if (machine.Deprecated)
        {
            var current = MachineTypeSuggestions.Suggest(machine.Name, run.Catalog);
            run.Errors.Add(MachineSpecErrorCodes.DeprecatedMachineType, "MachineType", found,
                $"is deprecated in {run.Errors.Emulator} and will be removed from a later QEMU", "a machine type that is not deprecated",
                current);
        }

        return machine;
    }

    private static void CheckCpu(ValidationRun run)
    {
        if (run.Spec.Cpu is not { } cpu)
        {
            return;
        }

        // "-cpu max,+x2apic": the model is what comes before the feature flags.
        var model = cpu.Split(',', 2)[0];
        if (run.Catalog.Cpus.Count == 0)
        {
            // Neither query-cpu-definitions nor the QOM types gave a model: say so rather than pass it in silence.
            run.Errors.Add(MachineSpecErrorCodes.CpuModelsUnknown, "Cpu", model, $"cannot be checked: {run.Errors.Emulator} lists no CPU models",
                "a CPU model the binary accepts", hint: $"'{run.Spec.QemuBinary} -cpu help' lists them");
            return;
        }

        var known = run.Catalog.FindCpu(model);
        if (known is null)
        {
            run.Errors.Add(MachineSpecErrorCodes.UnknownCpuModel, "Cpu", model, $"is not a CPU model of {run.Errors.Emulator}",
                $"a CPU model of {run.Errors.Emulator}", NearMiss.Suggest(model, run.Catalog.Cpus.Select(c => c.Name)), run.Errors.IntrospectHint);
        }
        else if (known.Deprecated)
        {
            run.Errors.Add(MachineSpecErrorCodes.DeprecatedCpuModel, "Cpu", model,
                $"is deprecated in {run.Errors.Emulator} and will be removed from a later QEMU", "a CPU model that is not deprecated");
        }
    }

    private static void CheckMemory(ValidationRun run)
    {
        var memory = run.Spec.MemoryMiB;
        var host = run.Context.HostMemoryMiB;
        var allowed = host is { } h ? Invariant($"1 to {h} MiB (the host's memory)") : "at least 1 MiB";
        if (memory <= 0)
        {
            run.Errors.Add(MachineSpecErrorCodes.MemoryOutOfRange, "MemoryMiB", Invariant($"{memory}"), "must be at least 1 MiB", allowed);
        }
        else if (memory > host)
        {
            run.Errors.Add(MachineSpecErrorCodes.MemoryOutOfRange, "MemoryMiB", Invariant($"{memory}"),
                Invariant($"is more than the host's {host} MiB of memory"), allowed);
        }
    }

    private static void CheckSmp(ValidationRun run, MachineType? machine)
    {
        var smp = run.Spec.Smp;
        var max = machine is { CpuMax: > 0 } ? machine.CpuMax : (int?)null;
        var allowed = max is { } m ? Invariant($"1 to {m}") : "at least 1";
        if (smp <= 0)
        {
            run.Errors.Add(MachineSpecErrorCodes.CpuCountOutOfRange, "Smp", Invariant($"{smp}"), "must be at least 1", allowed);
        }
        else if (smp > max)
        {
            run.Errors.Add(MachineSpecErrorCodes.CpuCountOutOfRange, "Smp", Invariant($"{smp}"),
                Invariant($"is more than machine type '{run.Spec.MachineType}' allows ({max} CPUs)"), allowed);
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

}
