using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation.Checks;

namespace QemuTestKit.Machines.Validation;

/// <summary>
/// Checks a machine spec against what the emulator really supports (its catalog) and what the host offers, and
/// reports every problem in one go, so that a user fixes a spec in one round instead of one error per run.
/// </summary>
public static class MachineSpecValidator
{
    private static readonly Action<ValidationRun>[] Checks =
    [
        MachineChecks.Check,
        AcceleratorChecks.Check,
        BootFileChecks.Check,
        DiskChecks.Check,
        DeviceTypeChecks.Check,
        PropertyValueChecks.Check,
        NicChecks.Check,
        IdChecks.Check,
        BusChecks.Check,
        BusRoomChecks.Check,
        ConsoleChecks.Check,
        ReplayChecks.Check,
    ];

    /// <summary>Every problem of <paramref name="spec"/>, errors and warnings, in a stable order (check by check); empty when it is fine.</summary>
    public static IReadOnlyList<MachineSpecError> Validate(MachineSpec spec, QemuCatalog catalog, ValidationContext? context = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(catalog);
        spec = WithoutNulls(spec);
        var run = new ValidationRun(spec, catalog, context ?? new ValidationContext(), new ErrorList(spec, catalog));
        foreach (var check in Checks)
        {
            check(run);
        }

        return run.Errors.Errors.ToArray();
    }

    // Specs read from JSON can hold nulls where the record promises none: the source-generated deserializer sets every
    // init-only property, and a field the JSON leaves out becomes null (dotnet/runtime#84484). Judge them as the defaults.
    private static MachineSpec WithoutNulls(MachineSpec spec) => spec with
    {
        Name = spec.Name ?? string.Empty,
        MachineType = spec.MachineType ?? string.Empty,
        MachineOptions = spec.MachineOptions ?? new Dictionary<string, string>(),
        Disks = spec.Disks ?? [],
        Nics = spec.Nics ?? [],
        Devices = spec.Devices ?? [],
        Ready = spec.Ready ?? new ReadyCondition(),
        ExtraArguments = spec.ExtraArguments ?? [],
    };

    /// <summary>
    /// The device types of <paramref name="spec"/> to ask QEMU which buses they bring (<c>ControllerBuses.ReadAsync</c>),
    /// for <see cref="ValidationContext.ControllerBuses"/>: empty unless a device needs a kind of bus <paramref name="tree"/> lacks.
    /// </summary>
    public static IReadOnlyList<string> ControllerCandidates(MachineSpec spec, QemuCatalog catalog, MachineDeviceTree tree)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(tree);
        spec = WithoutNulls(spec);
        return BusChecks.ControllerCandidates(new ValidationRun(spec, catalog, new ValidationContext(), new ErrorList(spec, catalog)), tree);
    }

    /// <summary>Validates and throws when there is any error; returns the warnings for the caller to show.</summary>
    /// <exception cref="MachineSpecValidationException">The spec has at least one error (the exception lists them all, warnings too).</exception>
    public static IReadOnlyList<MachineSpecError> EnsureValid(MachineSpec spec, QemuCatalog catalog, ValidationContext? context = null)
    {
        var problems = Validate(spec, catalog, context);
        return problems.Any(p => p.Severity == MachineSpecSeverity.Error)
            ? throw new MachineSpecValidationException(problems)
            : problems;
    }
}
